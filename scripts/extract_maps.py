"""Snakemake adapter: score-map, locref and PAF images of one model folder's labeled frames."""

from pathlib import Path

from dlcflow.plots.maps import extract_save_all_maps
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    fraction, shuffle = project.parse_model_name(snakemake.wildcards.model)
    extract_save_all_maps(
        project.config_path,
        shuffle=shuffle,
        trainingsetindex=project.training_fractions.index(fraction),
        dest_folder=snakemake.output[0],
        threads=snakemake.threads,
        iteration=int(snakemake.wildcards.iteration),  # not the config's, once merged
    )
