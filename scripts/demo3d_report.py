"""Snakemake adapter: write and print the 3D demo's report."""

from pathlib import Path

from dlcflow.devtools.demo3dreport import demo3d_report
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    three, two = Path(snakemake.input.pointer).read_text().split()
    print(
        demo3d_report(
            Path(snakemake.input.pointer).parent,
            three,
            two,
            snakemake.input.triangulated,
            snakemake.input.two_cameras,
            out=snakemake.output[0],
        )
    )
