"""Snakemake adapter: evaluate one model folder's snapshots on the labeled frames."""

from pathlib import Path

from dlcflow.post.evaluate import evaluate_network
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    fraction, shuffle = project.parse_model_name(snakemake.wildcards.model)
    evaluate_network(
        project.config_path,
        Shuffles=[shuffle],
        trainingsetindex=project.training_fractions.index(fraction),
        plotting=snakemake.params.plotting,
        calibrate=snakemake.params.calibrate,
        iteration=int(snakemake.wildcards.iteration),  # not the config's, once merged
    )
