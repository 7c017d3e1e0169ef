"""Snakemake adapter: train one model folder's network up to snapshot-<maxiters>."""

from pathlib import Path

from dlcflow.project.paths import Project
from dlcflow.training.train import train_network
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    fraction, shuffle = project.parse_model_name(snakemake.wildcards.model)
    train_network(
        project.config_path,
        shuffle=shuffle,
        trainingsetindex=project.training_fractions.index(fraction),
        maxiters=int(snakemake.wildcards.maxiters),
        saveiters=snakemake.params.saveiters,
        displayiters=snakemake.params.displayiters,
        max_snapshots_to_keep=snakemake.params.max_snapshots_to_keep,
        threads=snakemake.threads,
        iteration=int(snakemake.wildcards.iteration),  # not the config's, once merged
    )
