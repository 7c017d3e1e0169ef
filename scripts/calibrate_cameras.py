"""Snakemake adapter: calibrate a 3D project's cameras from its board images."""

from pathlib import Path

from dlcflow.threed.calibrate import calibrate_cameras
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    p = snakemake.params
    calibrate_cameras(
        Path(snakemake.wildcards.project3d) / "config.yaml",
        cbrow=int(p.cbrow),
        cbcol=int(p.cbcol),
        calibrate=True,
        alpha=float(p.alpha),
        square_size=float(p.square_size) or None,  # 0: DLC's unitless squares
        board=p.board,
    )
