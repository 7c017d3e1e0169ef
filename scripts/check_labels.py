"""Snakemake adapter: draw one labeled-data folder's labels into <video>_labeled/."""

from pathlib import Path

from dlcflow.plots.labels import plot_labeled_folder
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    plot_labeled_folder(project, snakemake.wildcards.video)
