"""Snakemake adapter: analyze one video with the model's last snapshot."""

from dataclasses import replace

from dlcflow.inference.analyze import AnalysisOptions, analyze_videos
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import parse_scorer

with rule_log(snakemake.log):
    shuffle, _ = parse_scorer(snakemake.wildcards.scorer)
    section = {"save_as_csv": snakemake.params.save_as_csv, "engine": snakemake.params.engine}
    options = replace(AnalysisOptions.from_config(section), threads=snakemake.threads)
    analyze_videos(
        snakemake.params.config,
        [snakemake.input.video],
        shuffle=shuffle,
        trainingsetindex=snakemake.params.trainingsetindex,
        destfolder=snakemake.wildcards.folder,
        snapshot_index=-1,
        force=True,
        options=options,
    )
