"""Snakemake adapter: a multi-animal video's detections (_full.pickle) with the rule's snapshot."""

from dlcflow.inference.analyze import AnalysisOptions, analyze_videos
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import declared_snapshot, parse_scorer

with rule_log(snakemake.log):
    shuffle, _ = parse_scorer(snakemake.wildcards.scorer)
    iteration, snapshot_index = declared_snapshot(snakemake.input.snapshot)
    analyze_videos(
        snakemake.params.config,
        [snakemake.input.video],
        shuffle=shuffle,
        trainingsetindex=snakemake.params.trainingsetindex,
        destfolder=snakemake.wildcards.folder,
        snapshot_index=snapshot_index,  # the rule's snapshot, not the config's choice
        force=True,
        options=AnalysisOptions(engine=snakemake.params.engine, threads=snakemake.threads),
        iteration=iteration,
        auto_track=False,  # assembly, tracking and stitching are rules of their own
    )
