"""Snakemake adapter: the demo's oracle labels one folder's frames from ground truth."""

from pathlib import Path

from dlcflow.devtools.demo import oracle_label
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    oracle_label(
        Path(snakemake.wildcards.project) / "config.yaml",
        snakemake.wildcards.video,
        groundtruth=snakemake.input.groundtruth,
    )
