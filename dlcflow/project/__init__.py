"""A DLC project: config.yaml, every artifact path, pose_cfg files, model references."""
