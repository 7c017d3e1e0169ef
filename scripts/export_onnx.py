"""Snakemake adapter: export one snapshot to ONNX (snapshot-<n>.onnx beside it)."""

from dlcflow.inference.export import export_snapshot
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    export_snapshot(
        snakemake.input.pose_cfg,
        snakemake.input.snapshot,
        snakemake.output[0],
        force=True,
        threads=snakemake.threads,
    )
