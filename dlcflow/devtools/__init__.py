"""Synthetic demo data and report, and the local one-node SLURM for tests."""
