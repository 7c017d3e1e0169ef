"""Snakemake adapter: a project's kinematics-summary.csv."""

from dlcflow.post.kinematicsfiles import kinematics_summary
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    kinematics_summary(list(snakemake.input), snakemake.output[0])
