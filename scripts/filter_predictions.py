"""Snakemake adapter: filter one pose file."""

from dlcflow.post.filters import filter_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    filter_file(snakemake.input[0], snakemake.output[0], **snakemake.params.options)
