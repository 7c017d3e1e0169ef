"""Snakemake adapter: analyze one video with the snapshot the rule declares."""

from dataclasses import replace

from dlcflow.inference.analyze import AnalysisOptions, analyze_videos
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import declared_snapshot, parse_scorer

with rule_log(snakemake.log):
    shuffle, _ = parse_scorer(snakemake.wildcards.scorer)
    iteration, snapshot_index = declared_snapshot(snakemake.input.snapshot)
    section = {"save_as_csv": snakemake.params.save_as_csv, "engine": snakemake.params.engine}
    options = replace(AnalysisOptions.from_config(section), threads=snakemake.threads)
    analyze_videos(
        snakemake.params.config,
        [snakemake.input.video],
        shuffle=shuffle,
        trainingsetindex=snakemake.params.trainingsetindex,
        destfolder=snakemake.wildcards.folder,
        snapshot_index=snapshot_index,  # the rule's snapshot, not the config's choice
        force=True,
        options=options,
        iteration=iteration,
    )
