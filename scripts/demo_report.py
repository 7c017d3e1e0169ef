"""Snakemake adapter: write and print the demo's report."""

from dlcflow.demoreport import demo_report
from dlcflow.rulelog import rule_log

with rule_log(snakemake.log):
    print(
        demo_report(
            snakemake.params.config,
            snakemake.input.analysis,
            snakemake.input.evaluation,
            out=snakemake.output[0],
        )
    )
