"""Snakemake adapter: render the synthetic videos and create the demo project."""

from pathlib import Path

from dlcflow.core.fileio import atomic_write_text
from dlcflow.devtools.demo import make_demo_project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    config = make_demo_project(
        Path(snakemake.output.pointer).parent,
        n_videos=snakemake.params.n_videos,
        nframes=snakemake.params.nframes,
        numframes2pick=snakemake.params.numframes2pick,
        seed=snakemake.params.seed,
        n_test_videos=snakemake.params.n_test_videos,
    )
    atomic_write_text(Path(snakemake.output.pointer), f"{config}\n")
