"""Snakemake adapter: draw one video's poses into <pose file stem>_labeled.mp4."""

from dlcflow.plots.poses import LabeledVideoOptions, labeled_video_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    labeled_video_file(
        snakemake.params.config,
        snakemake.input.video,
        snakemake.input.poses,
        snakemake.output[0],
        LabeledVideoOptions.from_config(snakemake.params.options),
    )
