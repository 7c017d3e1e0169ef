"""Snakemake adapter: re-identification and stitching of a video's tracklets (_el_tr.h5)."""

from dlcflow.inference.reid import transformer_reID
from dlcflow.project.paths import TRACKER_SUFFIXES
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import declared_snapshot, parse_scorer

with rule_log(snakemake.log):
    shuffle, _ = parse_scorer(snakemake.wildcards.scorer)
    _, snapshot_index = declared_snapshot(snakemake.input.snapshot)
    method = {s: m for m, s in TRACKER_SUFFIXES.items()}[snakemake.wildcards.tracker]
    transformer_reID(
        snakemake.params.config,
        [snakemake.input.video],
        shuffle=shuffle,
        trainingsetindex=snakemake.params.trainingsetindex,
        track_method=method,
        n_tracks=snakemake.params.tracking.n_tracks or None,
        destfolder=snakemake.wildcards.folder,
        snapshotindex=snapshot_index,  # the rule's snapshot, not the config's choice
    )
