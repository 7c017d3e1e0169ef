"""The demo's closing report: the model's errors against the synthetic ground truth.

Evaluation errors come from DLC's results csv (labeled frames, train/test split); the
analysis errors compare every analyzed frame with the ground truth the demo rendered,
separately for labeled videos and held-out ones (never labeled).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.video import VIDEO_EXTENSIONS
from dlcflow.data.pose import points_array
from dlcflow.devtools.demo import read_groundtruth
from dlcflow.io.kinematics import load_kinematics
from dlcflow.io.poses import load_poses
from dlcflow.io.tables import to_dataset
from dlcflow.post.kinematics import KinematicsOptions, kinematics
from dlcflow.project.paths import Project


def analysis_errors(h5: str | os.PathLike[str], video: str | os.PathLike[str]) -> dict[str, float]:
    """Pixel errors of an analysis file against the video's ground truth (visible parts)."""
    pred = load_poses(h5)
    truth = to_dataset(read_groundtruth(Path(video).resolve()))  # demo videos link to data/
    keys = [(str(truth["individuals"].values[0]), str(p)) for p in truth["keypoints"].values]
    xy_pred = points_array(pred, keys)
    lik = points_array(pred, keys, "confidence")
    xy_true = points_array(truth, keys)
    n = min(len(xy_pred), len(xy_true))
    dist = np.linalg.norm(xy_pred[:n] - xy_true[:n], axis=2)
    visible = ~np.isnan(xy_true[:n, :, 0])
    d = dist[visible & ~np.isnan(dist)]
    return {
        "frames": float(n),
        "mean_px": float(np.mean(d)) if d.size else float("nan"),
        "median_px": float(np.median(d)) if d.size else float("nan"),
        "within_5px": float(np.mean(d <= 5)) if d.size else float("nan"),
        "mean_likelihood_visible": float(np.nanmean(lik[:n][visible])),
        "mean_likelihood_hidden": float(np.nanmean(lik[:n][~visible])) if (~visible).any() else 0.0,
    }


def speed_errors(
    kinematics_h5: str | os.PathLike[str],
    video: str | os.PathLike[str],
    options: KinematicsOptions | None = None,
) -> dict[str, float]:
    """Speed errors of a kinematics file against the same kinematics computed from the
    video's ground truth (``options``: those the file was made with): mean absolute error
    of the body parts' and of the centre's speed (px/s, frames where both are known), and
    each relative to the mean true speed."""
    (table,) = load_kinematics(kinematics_h5).values()
    fps = float(table.attrs["fps"])
    truth = to_dataset(read_groundtruth(Path(video).resolve()))
    true = kinematics(truth, options, fps=fps, where=str(video))
    n = min(len(table), true.sizes["time"])
    parts = [str(k) for k in true["keypoints"].values]
    pred = np.stack([table[p]["speed"].to_numpy()[:n] for p in parts], axis=1)
    ref = true["speed"].values[:n, :, 0]
    both = np.isfinite(pred) & np.isfinite(ref)
    c_pred = table["centre"]["speed"].to_numpy()[:n]
    c_ref = true["centre_speed"].values[:n, 0]
    c_both = np.isfinite(c_pred) & np.isfinite(c_ref)
    nan = float("nan")
    err = float(np.mean(np.abs(pred - ref)[both])) if both.any() else nan
    c_err = float(np.mean(np.abs(c_pred - c_ref)[c_both])) if c_both.any() else nan
    return {
        "speed_mae": err,
        "speed_rel": err / float(np.mean(ref[both])) if both.any() else nan,
        "true_speed": float(np.mean(ref[both])) if both.any() else nan,
        "centre_mae": c_err,
        "centre_rel": c_err / float(np.mean(c_ref[c_both])) if c_both.any() else nan,
        "frames": float(both.any(axis=1).sum()),
    }


def _video_of(project: Project, h5: Path) -> Path:
    for video in sorted((project.root / "videos").iterdir()):
        if video.suffix.lower() in VIDEO_EXTENSIONS and h5.name.startswith(video.stem + "DLC_"):
            return video
    raise FileNotFoundError(f"{h5}: no demo video of the project matches this analysis file")


def split_sizes(project: Project, evaluation_csv: Path) -> tuple[int, int]:
    """(train, test) frames of the dataset an evaluation csv scores, from its
    Documentation pickle (``evaluation-results/iteration-<i>/<model>/...``)."""
    iteration = int(evaluation_csv.parts[-3][len("iteration-") :])
    fraction, shuffle = project.parse_model_name(evaluation_csv.parts[-2])
    with project.documentation_file(fraction, shuffle, iteration).open("rb") as fh:
        _, train, test, _ = pickle.load(fh)
    return len(train), len(test)


def demo_report(
    config: str | os.PathLike[str],
    analysis: Sequence[str | os.PathLike[str]],
    evaluation: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    refined_analysis: Sequence[str | os.PathLike[str]] = (),
    kinematics_files: Sequence[str | os.PathLike[str]] = (),
    kinematics_options: KinematicsOptions | None = None,
) -> str:
    """Text report of the demo run; written to ``out`` if given. ``analysis`` are the
    first iteration's analyses, ``refined_analysis`` the second's (the same videos by the
    model trained with the held-out videos' outlier frames).

    It leads with the errors on every frame of every video, the robust figures; the
    evaluation on the labeled frames follows with the size of each train and test set
    beside its error (a test set of a few frames moves a lot between iterations).
    ``kinematics_files`` (the first model's ``_kinematics.h5``, made with
    ``kinematics_options``) add their speed errors against the ground truth's kinematics."""
    project = Project(config)
    # videos whose frames were extracted for labeling; the others were held out (at most
    # their outlier frames were labeled, in the refinement)
    labeled = {s for s in project.video_stems() if project.frames_manifest(s).is_file()}
    runs = [files for files in (analysis, refined_analysis) if files]
    errors = [
        {
            _video_of(project, Path(h5)): analysis_errors(h5, _video_of(project, Path(h5)))
            for h5 in files
        }
        for files in runs
    ]
    lines = [f"dlcflow demo: {project.root}", ""]
    lines += _video_table(errors, labeled)
    lines += ["", "evaluation on the labeled frames (DLC's results csv):"]
    lines.append(
        f"{'iteration':>9}  {'trained':>7}  {'train error':>11}  {'frames':>6}  "
        f"{'test error':>10}  {'frames':>6}"
    )
    for csv in map(Path, evaluation):
        last = pd.read_csv(csv, index_col=0).iloc[-1]
        n_train, n_test = split_sizes(project, csv)
        lines.append(
            f"{csv.parts[-3][len('iteration-') :]:>9}  {int(last['Training iterations:']):>7}  "
            f"{last[' Train error(px)']:>8.2f} px  {n_train:>6}  "
            f"{last[' Test error(px)']:>7.2f} px  {n_test:>6}"
        )
    for iteration, by_video in enumerate(errors):
        lines += ["", f"analysis by the iteration {iteration} model:"]
        for video, e in by_video.items():
            kind = "labeled video" if video.stem in labeled else "held-out video"
            lines.append(
                f"{video.name} ({kind}, {int(e['frames'])} frames): mean error "
                f"{e['mean_px']:.2f} px, median {e['median_px']:.2f} px, "
                f"{100 * e['within_5px']:.1f}% within 5 px; mean likelihood "
                f"{e['mean_likelihood_visible']:.2f} visible / "
                f"{e['mean_likelihood_hidden']:.2f} hidden"
            )
    if kinematics_files:
        lines += ["", "speed against the ground truth's (same kinematics, iteration 0 model):"]
        for h5 in map(Path, kinematics_files):
            video = _video_of(project, h5)
            e = speed_errors(h5, video, kinematics_options)
            if not e["frames"]:
                lines.append(f"{video.name}: no frame has both speeds (points under pcutoff)")
                continue
            lines.append(
                f"{video.name} ({int(e['frames'])} frames): body parts mean |speed error| "
                f"{e['speed_mae']:.1f} px/s ({100 * e['speed_rel']:.1f}% of the mean true speed "
                f"{e['true_speed']:.1f} px/s); centre {e['centre_mae']:.1f} px/s "
                f"({100 * e['centre_rel']:.1f}%)"
            )
    text = "\n".join(lines) + "\n"
    if out is not None:
        atomic_write_text(out, text)
    return text


def _video_table(errors: list[dict[Path, dict[str, float]]], labeled: set[str]) -> list[str]:
    """Mean error per video and model iteration, every frame (and its change)."""
    if not errors:
        return []
    heads = [f"iteration {i}" for i in range(len(errors))] + (["change"] if len(errors) > 1 else [])
    lines = [
        "mean error on every frame of every video, against the rendered ground truth:",
        f"{'video':<12}  {'kind':<8}  {'frames':>6}  " + "  ".join(f"{h:>11}" for h in heads),
    ]
    for video in errors[0]:
        means = [run[video]["mean_px"] for run in errors if video in run]
        cells = [f"{m:>8.2f} px" for m in means]
        if len(means) > 1:
            cells.append(f"{means[-1] - means[0]:>+8.2f} px")
        kind = "labeled" if video.stem in labeled else "held-out"
        frames = int(errors[0][video]["frames"])
        lines.append(f"{video.name:<12}  {kind:<8}  {frames:>6}  " + "  ".join(cells))
    return lines
