"""Snakemake adapter: one pose file as an NWB file (ndx-pose)."""

from dlcflow.post.nwbexport import export_pose_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    export_pose_file(
        snakemake.input.poses,
        snakemake.output[0],
        video=snakemake.input.video,
        config=snakemake.params.config,
        metadata=snakemake.params.metadata or None,
    )
