"""Snakemake adapter: the errors of a model comparison's shuffles in one table."""

from pathlib import Path

from dlcflow.post.comparison import compare_models
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    compare_models(
        Path(snakemake.wildcards.project) / "config.yaml",
        iteration=int(snakemake.wildcards.iteration),
        trainingiterations=snakemake.params.maxiters,
    )
