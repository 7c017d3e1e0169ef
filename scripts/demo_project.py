"""Snakemake adapter: render a demo's synthetic videos and create its project."""

from pathlib import Path

from dlcflow.core.fileio import atomic_write_text
from dlcflow.devtools.demos import Demo, make_project
from dlcflow.workflow.rulelog import rule_log

with rule_log(snakemake.log):
    pointer = Path(snakemake.output.pointer)
    p = snakemake.params
    config = make_project(
        Demo(p.name, pointer.parent, p.n_videos, p.n_test_videos),
        nframes=p.nframes,
        numframes2pick=p.numframes2pick,
        seed=p.seed,
        n_animals=p.n_animals,
        board=p.board,
    )
    atomic_write_text(pointer, f"{config}\n")
