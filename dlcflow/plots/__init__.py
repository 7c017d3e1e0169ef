"""Plots: labeled frames, pose trajectories, labeled videos."""
