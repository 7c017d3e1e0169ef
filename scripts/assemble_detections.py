"""Snakemake adapter: assemble a _full.pickle's detections into animals."""

from dlcflow.tracking.pipeline import assemble_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    tracking = snakemake.params.tracking
    assemble_file(
        snakemake.params.config,
        snakemake.input.full,
        snakemake.output[0],
        calibrate=tracking.calibrate,
        identity_only=tracking.identity_only,
    )
