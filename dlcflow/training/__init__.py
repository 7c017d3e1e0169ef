"""Training datasets, augmentation, networks, targets and the training loop."""
