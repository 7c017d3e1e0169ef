"""Snakemake adapter: triangulate one recording's 2D pose files (one per camera)."""

from pathlib import Path

from dlcflow.threed.triangulate import triangulate_files
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    p = snakemake.params
    triangulate_files(
        Path(snakemake.wildcards.project3d) / "config.yaml",
        list(snakemake.input.poses),
        out=snakemake.output.h5,
        save_as_csv=bool(p.save_as_csv),
    )
