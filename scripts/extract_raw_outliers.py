"""Snakemake adapter: outlier frames of one video from its raw multi-animal data."""

from pathlib import Path

from dlcflow.post.rawoutliers import find_outliers_in_raw_data
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    options = dict(snakemake.params.options)
    del options["source"]  # which pickle: the rule's input
    find_outliers_in_raw_data(
        Path(snakemake.wildcards.project) / "config.yaml",
        snakemake.input.pickle,
        snakemake.input.video,
        **options,
        record=snakemake.output[0],
    )
