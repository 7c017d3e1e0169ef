"""Snakemake adapter: outlier frames of one analyzed video, with their machine labels."""

from pathlib import Path

from dlcflow.post.outliers import OutlierOptions, extract_outliers_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    extract_outliers_file(
        Path(snakemake.wildcards.project) / "config.yaml",
        snakemake.input.poses,
        snakemake.input.video,
        OutlierOptions.from_config(snakemake.params.options),
        record=snakemake.output[0],
    )
