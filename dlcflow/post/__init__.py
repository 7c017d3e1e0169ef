"""Post-processing: evaluation, filters, skeleton features, outliers and merging."""
