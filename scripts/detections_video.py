"""Snakemake adapter: every detection of a video's _full.pickle drawn on it (_full.mp4)."""

from dlcflow.plots.detections import detections_video_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    detections_video_file(
        snakemake.params.config, snakemake.input.video, snakemake.input.full, snakemake.output[0]
    )
