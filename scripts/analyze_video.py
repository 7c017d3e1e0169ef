"""Snakemake adapter: analyze one video with the model's last snapshot."""

from dlcflow.inference.analyze import analyze_videos
from dlcflow.workflow.rulelog import rule_log
from dlcflow.workflow.settings import parse_scorer

with rule_log(snakemake.log):
    shuffle, _ = parse_scorer(snakemake.wildcards.scorer)
    analyze_videos(
        snakemake.params.config,
        [snakemake.input.video],
        shuffle=shuffle,
        trainingsetindex=snakemake.params.trainingsetindex,
        save_as_csv=snakemake.params.save_as_csv,
        destfolder=snakemake.wildcards.folder,
        snapshot_index=-1,
        force=True,
        threads=snakemake.threads,
        engine=snakemake.params.engine,
    )
