"""Snakemake adapter: a video's tracklets drawn on it (<stem>/<stem>DLClabeled.mp4)."""

from dlcflow.plots.detections import tracklets_video_file
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    pcutoff = Project(snakemake.params.config).pcutoff
    tracklets_video_file(
        snakemake.input.video, snakemake.input.tracklets, snakemake.output[0], pcutoff
    )
