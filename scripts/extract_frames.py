"""Snakemake adapter: extract one video's frames for labeling."""

from pathlib import Path

from dlcflow.labeling.frames import extract_video_frames
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    extract_video_frames(
        project,
        project.video_key_for_stem(snakemake.wildcards.video),
        algo=snakemake.params.algo,
        crop=snakemake.params.crop,
        cluster_step=snakemake.params.cluster_step,
        cluster_resizewidth=snakemake.params.cluster_resizewidth,
        force=snakemake.params.force,
    )
