"""Snakemake adapter: the demo's `dlcflow merge` after the oracle refined iteration 0."""

from pathlib import Path

from dlcflow.core.fileio import atomic_write_text
from dlcflow.post.merge import merge_datasets
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.input.pointer).read_text().strip())
    iteration = project.iteration if project.iteration > 0 else merge_datasets(project.config_path)
    atomic_write_text(snakemake.output[0], f"iteration {iteration}\n")
