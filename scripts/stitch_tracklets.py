"""Snakemake adapter: stitch a video's tracklets into one track per animal."""

from dlcflow.tracking.pipeline import stitch_file
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    tracking = snakemake.params.tracking
    stitch_file(
        snakemake.params.config,
        snakemake.input[0],
        tracking.n_tracks or None,
        snakemake.output[0],
        save_as_csv=snakemake.params.save_as_csv,
        **tracking.stitch_overrides(),
    )
