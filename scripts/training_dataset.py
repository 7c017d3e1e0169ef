"""Snakemake adapter: build one model folder's training dataset and pose_cfg files."""

from pathlib import Path

from dlcflow.project.paths import Project
from dlcflow.training.dataset import create_training_dataset
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import check_rebuildable

with rule_log(snakemake.log):
    project = Project(Path(snakemake.wildcards.project) / "config.yaml")
    fraction, shuffle = project.parse_model_name(snakemake.wildcards.model)
    if int(snakemake.wildcards.iteration) != project.iteration:
        raise ValueError(
            f"{project.config_path}: asked for iteration {snakemake.wildcards.iteration}, "
            f"but the project is at iteration {project.iteration}"
        )
    check_rebuildable(project, snakemake.wildcards.model, project.iteration)
    create_training_dataset(
        project.config_path,
        Shuffles=[shuffle],
        trainingsetindex=project.training_fractions.index(fraction),
        net_type=snakemake.params.net_type or None,
        augmenter_type=snakemake.params.augmenter_type or None,
        init_weights=snakemake.params.init_weights,
        pose_cfg_updates=snakemake.params.pose_cfg,
        test_pose_cfg_updates=snakemake.params.test_pose_cfg,
    )
