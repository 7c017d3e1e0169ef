"""Snakemake adapter: a recording's 3D poses beside its views (<3D stem>_labeled3d.mp4)."""

from pathlib import Path

from dlcflow.threed.labeled import create_labeled_video_3d
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    create_labeled_video_3d(
        Path(snakemake.wildcards.project3d) / "config.yaml",
        snakemake.input.poses,
        videofolder=Path(snakemake.input.videos[0]).parent,
        overwrite=True,
    )
