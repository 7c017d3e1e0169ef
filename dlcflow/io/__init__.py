"""Readers and writers of DLC's files, one module per format (see docs/architecture.md)."""
