"""Snakemake adapter: write and print the demo's report."""

from pathlib import Path

from dlcflow.devtools.demoreport import demo_report
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    print(
        demo_report(
            Path(snakemake.input.pointer).read_text().strip(),
            snakemake.input.analysis,
            snakemake.input.evaluation,
            refined_analysis=snakemake.input.refined,
            out=snakemake.output[0],
        )
    )
