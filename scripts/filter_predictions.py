"""Snakemake adapter: filter one pose file."""

from dlcflow.post.filters import FilterOptions, filter_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    options = FilterOptions.from_config(snakemake.params.options)
    filter_file(snakemake.input[0], snakemake.output[0], options)
