"""Snakemake adapter: kinematics and their plots of one pose file."""

from dlcflow.plots.kinematics import plot_kinematics
from dlcflow.post.kinematics import KinematicsOptions
from dlcflow.post.kinematicsfiles import kinematics_file, project_pcutoff
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    options = KinematicsOptions.from_config(snakemake.params.options)
    out = kinematics_file(
        snakemake.input[0],
        snakemake.output.h5,
        options,
        project_pcutoff(snakemake.params.config, options),
        where=snakemake.params.config,
    )
    plot_kinematics(
        out,
        snakemake.output.speed,
        snakemake.output.occupancy,
        options.freeze_speed,
        options.move_speed,
    )
