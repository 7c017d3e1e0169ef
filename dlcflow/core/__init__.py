"""The lowest layer: atomic file writes, videos, drawing, logging, threads."""
