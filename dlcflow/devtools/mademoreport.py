"""The multi-animal demo's report: assembly scores on the labeled frames and the identity
tracking of whole videos against the rendered ground truth.

The evaluation rows come from dlcflow's ``<scorer>-assembly-results.csv`` (RMSE and mAP
after assembly, train and test; :mod:`dlcflow.post.evaluate_multianimal`); the tracking
block scores each video's stitched tracks (``<stem><scorer>_el.h5``) with
:mod:`dlcflow.post.idmetrics`. Tables are plain text, one aligned column per figure
(:mod:`dlcflow.post.trackeval`'s, which ``dlcflow evaluate-tracks`` prints too).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.video import VIDEO_EXTENSIONS
from dlcflow.devtools.demo import groundtruth_path
from dlcflow.post.evaluate_multianimal import ASSEMBLY_COLUMNS
from dlcflow.post.idmetrics import IdentityScores, score_track_file
from dlcflow.post.trackeval import identity_table, text_table
from dlcflow.project.paths import Project

__all__ = [
    "MADemoReportError",
    "assembly_results_of",
    "assembly_table",
    "identity_table",
    "mademo_report",
]


class MADemoReportError(ValueError):
    """A file the report cannot use; the one-line message names it and the cause."""


def _iteration(csv: Path) -> str:
    """The active-learning iteration of ``evaluation-results/iteration-<N>/<model>/<csv>``."""
    folder = csv.parts[-3] if len(csv.parts) >= 3 else ""
    return folder[len("iteration-") :] if folder.startswith("iteration-") else "-"


def assembly_table(csvs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Lines of the assembly-results table: one row per snapshot of each csv (iteration,
    shuffle, training share, training iterations, RMSE and mAP train / test)."""
    headers = ["iteration", "shuffle", "train %", "trained", "RMSE train", "RMSE test"]
    headers += ["mAP train", "mAP test"]
    rows = []
    for csv in map(Path, csvs):
        if not csv.is_file():
            raise MADemoReportError(f"{csv}: assembly results file not found")
        try:
            df = pd.read_csv(csv, index_col=0)
        except (ValueError, pd.errors.ParserError) as err:
            raise MADemoReportError(f"{csv}: not a readable csv ({err})") from None
        missing = [c for c in ASSEMBLY_COLUMNS if c not in df.columns]
        if missing:
            raise MADemoReportError(
                f"{csv}: not an assembly results file (no column {missing[0]!r})"
            )
        for _, r in df.iterrows():
            rows.append(
                [
                    _iteration(csv),
                    str(int(r["Shuffle number"])),
                    str(int(r["%Training dataset"])),
                    str(int(r["Training iterations:"])),
                    f"{float(r['rmse_train']):.2f} px",
                    f"{float(r['rmse_test']):.2f} px",
                    f"{float(r['mAP_train']):.3f}",
                    f"{float(r['mAP_test']):.3f}",
                ]
            )
    return text_table(headers, rows)


def _video_of(project: Project, tracks: Path) -> Path:
    """The project video whose stem, followed by a DLC scorer, starts the tracks file name."""
    for video in sorted((project.root / "videos").iterdir()):
        if video.suffix.lower() in VIDEO_EXTENSIONS and tracks.name.startswith(video.stem + "DLC_"):
            return video
    raise MADemoReportError(f"{tracks}: no demo video of the project matches this tracks file")


def assembly_results_of(results_csv: str | os.PathLike[str]) -> Path:
    """The ``<scorer>-assembly-results.csv`` that a multi-animal evaluation writes beside
    its ``<scorer>-results.csv``."""
    csv = Path(results_csv)
    if not csv.name.endswith("-results.csv"):
        raise MADemoReportError(f"{csv}: not an evaluation results file (<scorer>-results.csv)")
    return Project.assembly_results_of(csv)


def _scores(
    project: Project, tracks: Sequence[str | os.PathLike[str]], gate_px: float | None
) -> tuple[dict[str, IdentityScores], dict[str, str]]:
    """Identity scores of tracks files by video name, and whether each video was labeled."""
    labeled = {s for s in project.video_stems() if project.frames_manifest(s).is_file()}
    scores: dict[str, IdentityScores] = {}
    kinds: dict[str, str] = {}
    for h5 in map(Path, tracks):
        video = _video_of(project, h5)
        truth = groundtruth_path(video.resolve())  # demo videos link to data/
        scores[video.name] = score_track_file(h5, truth, gate_px)
        kinds[video.name] = "labeled" if video.stem in labeled else "held-out"
    return scores, kinds


def mademo_report(
    config: str | os.PathLike[str],
    tracks: Sequence[str | os.PathLike[str]],
    evaluation: Sequence[str | os.PathLike[str]] = (),
    out: str | os.PathLike[str] | None = None,
    gate_px: float | None = None,
    refined_tracks: Sequence[str | os.PathLike[str]] = (),
    reid_tracks: Sequence[str | os.PathLike[str]] = (),
) -> str:
    """Text report of a multi-animal demo run; written to ``out`` if given. ``tracks`` are
    stitched tracks files of the project's videos (each scored against the ground truth
    beside the video it was made from), ``refined_tracks`` those of the refined model (a
    table of their own), ``reid_tracks`` the last model's tracks stitched with
    re-identification (``_el_tr.h5``, a table beside the one without), ``evaluation``
    assembly-results csv files."""
    project = Project(config)
    lines = [f"dlcflow multi-animal demo: {project.root}"]
    if evaluation:
        lines += ["", "assembly on the labeled frames (RMSE and mAP after assembly):"]
        lines += assembly_table(evaluation)
    runs = [files for files in (tracks, refined_tracks) if files]
    for iteration, files in enumerate(runs):
        scores, kinds = _scores(project, files, gate_px)
        model = f" (tracks of the iteration {iteration} model)" if len(runs) > 1 else ""
        lines += [
            "",
            f"identity tracking on every frame, against the rendered ground truth{model}",
            "(one track per animal for the whole video, as IDF1 chooses it; kept: frames "
            "where every animal is on its own track):",
        ]
        lines += identity_table(scores, kinds)
    if reid_tracks:
        scores, kinds = _scores(project, reid_tracks, gate_px)
        lines += [
            "",
            "the same, stitched with re-identification (transformer_reID: an appearance",
            "embedding learned from the tracklets of each video, _el_tr.h5):",
        ]
        lines += identity_table(scores, kinds)
    text = "\n".join(lines) + "\n"
    if out is not None:
        atomic_write_text(out, text)
    return text
