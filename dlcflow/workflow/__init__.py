"""What the Snakemake rules need: settings, input lists, rule logs."""
