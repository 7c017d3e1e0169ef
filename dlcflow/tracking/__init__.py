"""Multi-animal poses over time: assembly of detections into animals, tracking of the
assemblies into tracklets, and stitching of tracklets into one track per animal."""
