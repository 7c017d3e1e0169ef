"""Identity-tracking quality of whole videos (``dlcflow evaluate-tracks``): each video's
stitched tracks scored against its ground truth with :mod:`dlcflow.post.idmetrics`.

A video's tracks are found as every post-processing step finds them
(:func:`dlcflow.project.posefiles.find_pose_file`: ``<stem><scorer>_el.h5`` of
``track_method``, in ``destfolder`` or beside the video). Its ground truth is a
multi-animal table of the same video (DLC's 4 column levels, any h5 key): the one given,
e.g. tracks a person corrected in the tracklet view, or by default
``<stem>_groundtruth.h5`` beside the video (:meth:`Project.groundtruth_file`; the
synthetic demos write one, and a demo video that links elsewhere has it beside the
target).

The scores go to the model's evaluation folder, ``<scorer>-tracking-results.csv``
(:meth:`Project.tracking_results`, the config's iteration; one file per scorer of the
tracks), one row per tracks file and ground truth: a row of the same pair evaluated
before is replaced. The text table of :func:`tracking_table` is what the command prints
and what the multi-animal demo's report shows (:func:`identity_table`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.post.idmetrics import IdentityScoreError, IdentityScores, score_track_file
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project, tracker_suffix
from dlcflow.project.posefiles import find_pose_file, resolve_track_method

__all__ = [
    "TRACKING_COLUMNS",
    "evaluate_tracks",
    "identity_table",
    "score_row",
    "text_table",
    "tracking_table",
]

#: The columns of ``<scorer>-tracking-results.csv``: the files, then the scores
#: (:class:`IdentityScores`: shares in [0, 1], distances in pixels).
TRACKING_COLUMNS = [
    "video",
    "scorer",
    "track method",
    "tracks file",
    "ground truth file",
    "frames",
    "animals",
    "tracks",
    "gate_px",
    "IDF1",
    "IDP",
    "IDR",
    "switches",
    "MOTA",
    "identity kept",
    "mean_px",
    "median_px",
    "within_5px",
]
_KEY = ["tracks file", "ground truth file"]  # a row of the same pair is replaced


def score_row(s: IdentityScores) -> dict[str, Any]:
    """The score columns of :data:`TRACKING_COLUMNS` of one video's scores."""
    return {
        "frames": s.frames,
        "animals": s.animals,
        "tracks": s.tracks,
        "gate_px": s.gate_px,
        "IDF1": s.idf1,
        "IDP": s.idp,
        "IDR": s.idr,
        "switches": s.switches,
        "MOTA": s.mota,
        "identity kept": s.identity_kept,
        "mean_px": s.mean_px,
        "median_px": s.median_px,
        "within_5px": s.within_5px,
    }


def _groundtruth_of(video: Path) -> Path:
    """``<stem>_groundtruth.h5`` beside the video, else beside the file it links to."""
    for candidate in (Project.groundtruth_file(video), Project.groundtruth_file(video.resolve())):
        if candidate.is_file():
            return candidate
    raise IdentityScoreError(
        f"{Project.groundtruth_file(video)}: ground truth file not found (give the ground "
        "truth of each video)"
    )


def _scorer_of(tracks: Path, video: Path, method: str) -> str:
    """The scorer in ``<stem><scorer>_el.h5``."""
    end = len(tracker_suffix(method) + ".h5")
    return tracks.name[len(video.stem) : -end]


def _paths(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[str | os.PathLike[str]]:
    """One path or several as a list."""
    return [paths] if isinstance(paths, str | os.PathLike) else list(paths)


def _upsert(path: Path, rows: pd.DataFrame) -> None:
    """Add ``rows`` to the csv at ``path``, replacing its rows of the same files."""
    if path.is_file():
        try:
            old = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as err:
            raise IdentityScoreError(f"{path}: not a readable csv ({err})") from None
        missing = [c for c in TRACKING_COLUMNS if c not in old.columns]
        if missing:
            raise IdentityScoreError(f"{path}: not a tracking results file (no {missing[0]!r})")
        rows = pd.concat([old[TRACKING_COLUMNS], rows], ignore_index=True)
    rows = rows.drop_duplicates(subset=_KEY, keep="last").reset_index(drop=True)
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False)


def evaluate_tracks(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    groundtruth: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    track_method: str = "",
    gate_px: float | None = None,
    destfolder: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Identity-tracking scores (IDF1, identity switches, MOTA, keypoint errors) of each
    video's stitched tracks against its ground truth, one row per video
    (:data:`TRACKING_COLUMNS`), also written to ``<scorer>-tracking-results.csv`` in the
    model's evaluation folder (``df.attrs["results_files"]`` lists the files written).

    ``videos``: video files of a multi-animal project; ``groundtruth``: one h5 per video,
    in the same order (None: ``<stem>_groundtruth.h5`` beside each video); ``track_method``:
    the tracks scored (empty: the config's ``default_track_method``); ``gate_px``: the
    largest mean keypoint distance at which a track can be an animal (None:
    :data:`dlcflow.post.idmetrics.GATE_FACTOR` times the animals' size). Every video is
    checked before anything is written: a missing tracks or ground-truth file, or ground
    truth that does not fit the tracks, raises with one line naming the file.
    """
    project = Project(config)
    if not project.multianimal:
        raise IdentityScoreError(
            f"{project.config_path}: a single-animal project has no tracks to score "
            "(identity tracking needs multianimal: true)"
        )
    video_list = [Path(v) for v in _paths(videos)]
    if not video_list:
        raise IdentityScoreError(f"{project.config_path}: no video to evaluate")
    truths = None if groundtruth is None else [Path(t) for t in _paths(groundtruth)]
    if truths is not None and len(truths) != len(video_list):
        raise IdentityScoreError(
            f"{len(truths)} ground truth files for {len(video_list)} videos: give one "
            "per video, in the same order"
        )
    fraction = training_fraction(project, trainingsetindex)
    method = resolve_track_method(project, track_method)
    rows = []
    for i, video in enumerate(video_list):
        tracks = find_pose_file(
            project, video, shuffle, trainingsetindex, destfolder=destfolder, track_method=method
        )
        truth = truths[i] if truths is not None else _groundtruth_of(video)
        scores = score_track_file(tracks, truth, gate_px)
        files = {"video": video, "tracks file": tracks, "ground truth file": truth}
        row = {key: str(path.absolute()) for key, path in files.items()}
        row |= {"scorer": _scorer_of(tracks, video, method), "track method": method}
        rows.append(row | score_row(scores))
    df = pd.DataFrame(rows, columns=TRACKING_COLUMNS)
    written = []
    for scorer, part in df.groupby("scorer", sort=False):
        path = project.tracking_results(fraction, shuffle, str(scorer))
        _upsert(path, part)
        log(f"identity tracking of {len(part)} video{'s' * (len(part) > 1)} scored: {path}")
        written.append(path)
    df.attrs["results_files"] = written
    return df


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Text lines of a table: the first column left-aligned, the others right-aligned,
    each as wide as its widest cell."""
    widths = [max(len(str(r[c])) for r in [headers, *rows]) for c in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{cell:>{w}}" for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _px(value: float) -> str:
    return f"{value:.2f} px"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


_HEADERS = ["frames", "animals", "tracks", "gate", "IDF1", "switches", "MOTA", "kept"]
_HEADERS += ["mean error", "median", "within 5 px"]


def _cells(r: Mapping[str, Any]) -> list[str]:
    """The table cells of one row of scores (:func:`score_row`'s keys)."""
    cells = [str(int(r["frames"])), str(int(r["animals"])), str(int(r["tracks"]))]
    cells += [_px(r["gate_px"]), f"{r['IDF1']:.3f}", str(int(r["switches"]))]
    cells += [f"{r['MOTA']:.3f}", _pct(r["identity kept"]), _px(r["mean_px"])]
    return cells + [_px(r["median_px"]), _pct(r["within_5px"])]


def identity_table(
    scores: Mapping[str, IdentityScores], kinds: Mapping[str, str] | None = None
) -> list[str]:
    """Lines of the identity-tracking table, one row per video (``scores`` by video name;
    ``kinds`` optionally says e.g. "labeled" / "held-out" per video)."""
    headers = ["video"] + (["kind"] if kinds else []) + _HEADERS
    rows = [
        [video] + ([kinds.get(video, "")] if kinds else []) + _cells(score_row(s))
        for video, s in scores.items()
    ]
    return text_table(headers, rows)


def tracking_table(df: pd.DataFrame) -> list[str]:
    """Lines of the identity-tracking table of :func:`evaluate_tracks`' rows (the video's
    file name, the track method, the scores)."""
    headers = ["video", "tracker", *_HEADERS]
    rows = [
        [Path(r["video"]).name, str(r["track method"]), *_cells(r)] for r in df.to_dict("records")
    ]
    return text_table(headers, rows)
