"""The demo's closing report: the model's errors against the synthetic ground truth.

Evaluation errors come from DLC's results csv (labeled frames, train/test split); the
analysis errors compare every analyzed frame with the ground truth the demo rendered,
separately for labeled videos and held-out ones (never labeled).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.video import VIDEO_EXTENSIONS
from dlcflow.data.pose import points_array
from dlcflow.devtools.demo import read_groundtruth
from dlcflow.io.labels import read_annotations
from dlcflow.io.poses import load_poses
from dlcflow.io.tables import to_dataset
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


def _video_of(project: Project, h5: Path) -> Path:
    for video in sorted((project.root / "videos").iterdir()):
        if video.suffix.lower() in VIDEO_EXTENSIONS and h5.name.startswith(video.stem + "DLC_"):
            return video
    raise FileNotFoundError(f"{h5}: no demo video of the project matches this analysis file")


def demo_report(
    config: str | os.PathLike[str],
    analysis: Sequence[str | os.PathLike[str]],
    evaluation: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    refined_analysis: Sequence[str | os.PathLike[str]] = (),
) -> str:
    """Text report of the demo run; written to ``out`` if given. ``analysis`` are the
    first iteration's analyses, ``refined_analysis`` the second's (the same videos by the
    model trained with the held-out videos' outlier frames)."""
    project = Project(config)
    lines = [f"dlcflow demo: {project.root}", ""]
    lines.append("evaluation on the labeled frames (DLC's results csv):")
    lines.append(
        f"{'iteration':>9}  {'trained':>7}  {'train error':>11}  {'test error':>10}  frames"
    )
    for csv in evaluation:
        results = pd.read_csv(csv, index_col=0)
        last = results.iloc[-1]
        iteration = next(p for p in Path(csv).parts if p.startswith("iteration-"))
        data = read_annotations(project.training_collected_data(iteration=int(iteration[10:])))
        lines.append(
            f"{iteration[10:]:>9}  {int(last['Training iterations:']):>7}  "
            f"{last[' Train error(px)']:>8.2f} px  {last[' Test error(px)']:>7.2f} px  "
            f"{len(data)}"
        )
    # videos whose frames were extracted for labeling; the others were held out (at most
    # their outlier frames were labeled, in the refinement)
    labeled = {s for s in project.video_stems() if project.frames_manifest(s).is_file()}
    for iteration, files in enumerate((analysis, refined_analysis)):
        if files:
            lines += ["", f"analysis by the iteration {iteration} model:"]
        for h5 in map(Path, files):
            video = _video_of(project, h5)
            e = analysis_errors(h5, video)
            kind = "labeled video" if video.stem in labeled else "held-out video"
            lines.append(
                f"{video.name} ({kind}, {int(e['frames'])} frames): mean error "
                f"{e['mean_px']:.2f} px, median {e['median_px']:.2f} px, "
                f"{100 * e['within_5px']:.1f}% within 5 px; mean likelihood "
                f"{e['mean_likelihood_visible']:.2f} visible / "
                f"{e['mean_likelihood_hidden']:.2f} hidden"
            )
    text = "\n".join(lines) + "\n"
    if out is not None:
        atomic_write_text(out, text)
    return text
