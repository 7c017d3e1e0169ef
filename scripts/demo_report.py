"""Snakemake adapter: write and print a demo's report."""

from pathlib import Path

from dlcflow.devtools.demos import write_report
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    print(
        write_report(
            Path(snakemake.input.pointer).read_text().strip(),
            snakemake.input.analysis,
            snakemake.input.evaluation,
            refined=snakemake.input.refined,
            out=snakemake.output[0],
            kinematics=list(getattr(snakemake.input, "kinematics", [])),
            reid=list(getattr(snakemake.input, "reid", [])),
            kinematics_options=snakemake.params.kinematics,
        )
    )
