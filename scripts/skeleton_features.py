"""Snakemake adapter: bone lengths, orientations and likelihoods of one pose file."""

from dlcflow.post.filters import skeleton_file
from dlcflow.project.paths import Project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    skeleton = Project(snakemake.params.config).cfg["skeleton"]
    skeleton_file(snakemake.input[0], skeleton, snakemake.output[0])
