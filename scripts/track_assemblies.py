"""Snakemake adapter: track a video's assemblies into tracklets."""

from dlcflow.project.paths import TRACKER_SUFFIXES
from dlcflow.tracking.pipeline import track_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    method = {suffix: name for name, suffix in TRACKER_SUFFIXES.items()}[
        snakemake.wildcards.tracker
    ]
    track_file(snakemake.params.config, snakemake.input[0], method, snakemake.output[0])
