"""Snakemake adapter: trajectory, x/y, likelihood and jump plots of one pose file."""

from pathlib import Path

from dlcflow.plots.poses import plot_poses_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    plot_poses_file(
        snakemake.params.config,
        snakemake.input.poses,
        dest_folder=Path(snakemake.output.trajectory).parent,
        displayedindividuals=snakemake.params.individual,
    )
