"""The 3D demo's report: the calibration and the 3D poses against the rendered truth.

A calibration's world is its own (camera-1's frame, as DLC's and dlcflow's calibration set
it), fixed only up to a rigid motion. To compare with the truth, the report maps it onto
the true world by the rigid motion (rotation and translation, no scale: the square size
sets the scale, and its errors stay in) that best fits the views' 2D ground truth,
triangulated with the calibration, onto the true 3D poses (:func:`rigid_fit`). That motion
depends on the calibration alone, never on the network; the camera positions and the
network's 3D poses are compared after it. Camera errors: focal length (% of the truth,
mean of x and y), principal point (px), camera centre (mm) and the calibration's mean
board reprojection error (px). 3D errors: Euclidean distance (mm) to
``<rec>_groundtruth_3d.h5`` over every body part and frame, for the three cameras and for
cameras 1 and 2 only (a rig calibrated on its own).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dlcflow.core.fileio import atomic_write_text
from dlcflow.data.cameras import CameraGroup
from dlcflow.devtools.demo import read_groundtruth
from dlcflow.devtools.demo3d import true_calibration_path, video_name
from dlcflow.io.calibration import load_calibration, read_calibration_toml
from dlcflow.io.poses import save_poses
from dlcflow.io.poses3d import load_poses_3d
from dlcflow.io.tables import to_dataset
from dlcflow.project.project3d import Project3D
from dlcflow.threed.triangulate import triangulate_files

__all__ = [
    "Motion",
    "align_to_truth",
    "calibration_errors",
    "demo3d_report",
    "pose_errors_3d",
    "reprojection_by_camera",
    "rigid_fit",
    "world_motion",
]


#: A rigid motion ``(R, t)``: ``X_true = R X + t``.
Motion = tuple[np.ndarray, np.ndarray]


def rigid_fit(points: np.ndarray, target: np.ndarray) -> Motion:
    """The rotation and translation that best map ``points`` ``(n, 3)`` onto ``target``
    (least squares, Kabsch's method; rows with a NaN left out)."""
    a, b = np.asarray(points, float).reshape(-1, 3), np.asarray(target, float).reshape(-1, 3)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, cb - rot @ ca


def align_to_truth(points: np.ndarray, motion: Motion) -> np.ndarray:
    """Points ``(..., 3)`` of a calibration's world in the true world."""
    rot, t = motion
    return np.asarray(points, float) @ rot.T + t


def reprojection_by_camera(csv: str | os.PathLike[str], cameras: Sequence[str]) -> dict[str, float]:
    """Mean board reprojection error (px) per camera from ``reprojection_errors.csv``
    (a row per camera and image: a column naming the camera, one whose name has
    ``error``); NaN for a camera the file does not list."""
    out = dict.fromkeys(cameras, float("nan"))
    path = Path(csv)
    if not path.is_file():
        return out
    df = pd.read_csv(path)
    error_cols = [c for c in df.columns if "error" in str(c).lower()]
    if not error_cols:
        return out
    values = pd.to_numeric(df[error_cols[0]], errors="coerce")
    for col in df.columns:
        names = df[col].astype(str)
        if names.isin(cameras).any():
            for cam in cameras:
                hit = values[names == cam]
                if hit.notna().any():
                    out[cam] = float(hit.mean())
            break
    return out


def calibration_errors(
    calibrated: CameraGroup, true: CameraGroup, motion: Motion
) -> dict[str, dict[str, float]]:
    """Per camera: true and calibrated focal length, its error (%), principal point
    error (px), k1 of both and the camera centre's error (mm, after ``motion``)."""
    out = {}
    for cam in calibrated:
        truth = true[cam.name]
        f_cal, f_true = np.mean(cam.focal), np.mean(truth.focal)
        position = align_to_truth(cam.position, motion)
        out[cam.name] = {
            "focal_true": float(f_true),
            "focal": float(f_cal),
            "focal_err_pct": float(100 * abs(f_cal - f_true) / f_true),
            "pp_err_px": float(np.hypot(*np.subtract(cam.principal_point, truth.principal_point))),
            "k1_true": float(truth.dist[0]),
            "k1": float(cam.dist[0]),
            "position_err_mm": float(np.linalg.norm(position - truth.position)),
        }
    return out


def _points(ds: xr.Dataset, keypoints: Sequence[str]) -> np.ndarray:
    """(frames, keypoints, space) of a single-animal pose dataset."""
    pos = ds["position"].isel(individuals=0).sel(keypoints=list(keypoints))
    return pos.transpose("time", "keypoints", "space").to_numpy()


def _pairs(
    outputs: Sequence[str | os.PathLike[str]], p3d: Project3D, data_dir: str | os.PathLike[str]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prediction, truth) points ``(frames, parts, 3)`` of each of ``outputs`` (3D pose
    files of ``p3d``), cut to the same frames."""
    pairs = []
    for h5 in outputs:
        rec = Path(h5).stem[: -len(p3d.scorer_3d) - 1]
        truth = load_poses_3d(Project3D.groundtruth_3d(data_dir, rec))
        parts = [str(k) for k in truth["keypoints"].values]
        gt, pred = _points(truth, parts), _points(load_poses_3d(h5), parts)
        n = min(len(gt), len(pred))
        pairs.append((pred[:n], gt[:n]))
    return pairs


def world_motion(
    outputs: Sequence[str | os.PathLike[str]], p3d: Project3D, data_dir: str | os.PathLike[str]
) -> Motion:
    """The rigid motion from ``p3d``'s calibration world to the true one, fit on
    ``outputs`` (the 2D ground truth triangulated: see :func:`oracle_outputs_3d`)."""
    pairs = _pairs(outputs, p3d, data_dir)
    return rigid_fit(
        np.concatenate([p.reshape(-1, 3) for p, _ in pairs]),
        np.concatenate([g.reshape(-1, 3) for _, g in pairs]),
    )


def pose_errors_3d(
    outputs: Sequence[str | os.PathLike[str]],
    p3d: Project3D,
    motion: Motion,
    data_dir: str | os.PathLike[str],
) -> dict[str, float]:
    """3D errors (mm) of ``outputs`` (3D pose files of ``p3d``, moved by ``motion``)
    against the ground truth in ``data_dir``: points scored, % triangulated, mean, median,
    % within 5 mm."""
    dists, total = [], 0
    for pred, gt in _pairs(outputs, p3d, data_dir):
        d = np.linalg.norm(align_to_truth(pred, motion) - gt, axis=-1)
        total += d.size
        dists.append(d[np.isfinite(d)])
    d = np.concatenate(dists) if dists else np.zeros(0)
    nan = float("nan")
    return {
        "points": float(total),
        "triangulated_pct": 100.0 * d.size / total if total else nan,
        "mean_mm": float(d.mean()) if d.size else nan,
        "median_mm": float(np.median(d)) if d.size else nan,
        "within_5mm_pct": float(100 * np.mean(d <= 5.0)) if d.size else nan,
    }


def oracle_outputs_3d(
    p3d: Project3D, recordings: Sequence[str], data_dir: str | os.PathLike[str], out_dir: Path
) -> list[Path]:
    """Triangulate the views' 2D ground truth (likelihood 1) with ``p3d``'s calibration:
    the 3D error of the calibration and triangulation alone, without the network's."""
    outputs = []
    for rec in recordings:
        poses = []
        for cam in p3d.camera_names:
            gt = to_dataset(read_groundtruth(Path(data_dir) / video_name(rec, cam)))
            ds = gt.assign(confidence=xr.ones_like(gt["position"].isel(space=0, drop=True)))
            ds.attrs.update(scorer="oracle", has_confidence=True)
            h5 = out_dir / f"{Path(video_name(rec, cam)).stem}DLC_oracle.h5"
            save_poses(ds, h5)
            poses.append(h5)
        outputs.append(triangulate_files(p3d.config_path, poses, out=p3d.output_3d(rec, out_dir)))
    return outputs


def demo3d_report(
    outdir: str | os.PathLike[str],
    config3d: str | os.PathLike[str],
    config3d_two: str | os.PathLike[str],
    outputs: Sequence[str | os.PathLike[str]],
    outputs_two: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
) -> str:
    """The report of the 3D demo in ``outdir``: ``config3d`` (every camera) and
    ``config3d_two`` (cameras 1 and 2) are its 3D projects, ``outputs``/``outputs_two``
    their 3D pose files; written to ``out`` when given."""
    root = Path(outdir)
    true, _ = read_calibration_toml(true_calibration_path(root))
    lines = ["dlcflow 3D demo: calibration and triangulation against the rendered truth", ""]
    rows = []
    for label, config, files in (("3", config3d, outputs), ("2", config3d_two, outputs_two)):
        p3d = Project3D(config)
        recordings = [Path(f).stem[: -len(p3d.scorer_3d) - 1] for f in files]
        with tempfile.TemporaryDirectory() as tmp:
            oracle = oracle_outputs_3d(p3d, recordings, root / "data", Path(tmp))
            motion = world_motion(oracle, p3d, root / "data")
            oracle_stats = pose_errors_3d(oracle, p3d, motion, root / "data")
        if label == "3":
            cal = load_calibration(p3d.calibration_file, p3d.camera_names)
            errs = calibration_errors(cal, true, motion)
            reproj = reprojection_by_camera(p3d.reprojection_errors, p3d.camera_names)
            lines.append(
                "calibration (camera_matrix/calibration.toml vs truth/calibration_true.toml; "
                "positions after the rigid motion onto the true world)"
            )
            lines.append(
                f"{'camera':<10}{'focal_true':>11}{'focal':>9}{'focal_err_%':>13}"
                f"{'pp_err_px':>11}{'k1_true':>9}{'k1':>9}{'position_err_mm':>17}"
                f"{'reproj_px':>11}"
            )
            for cam, e in errs.items():
                lines.append(
                    f"{cam:<10}{e['focal_true']:>11.1f}{e['focal']:>9.1f}"
                    f"{e['focal_err_pct']:>13.3f}{e['pp_err_px']:>11.2f}{e['k1_true']:>9.3f}"
                    f"{e['k1']:>9.3f}{e['position_err_mm']:>17.2f}{reproj[cam]:>11.3f}"
                )
            lines.append("")
        stats = pose_errors_3d(files, p3d, motion, root / "data")
        rows.append((label, ", ".join(p3d.camera_names), len(files), stats))
        rows.append((label + " (2D truth)", ", ".join(p3d.camera_names), len(files), oracle_stats))
    lines.append(
        "3D poses (mm, every body part and frame vs <rec>_groundtruth_3d.h5, after the rigid "
        "motion that fits the '2D truth' rows onto it; '2D truth': the views' 2D ground "
        "truth triangulated, the calibration's share)"
    )
    lines.append(
        f"{'n_cameras':<14}{'recordings':>11}{'points':>8}{'triangulated_%':>16}"
        f"{'mean_mm':>9}{'median_mm':>11}{'within_5mm_%':>14}  cameras"
    )
    for label, names, n, s in rows:
        lines.append(
            f"{label:<14}{n:>11d}{int(s['points']):>8d}{s['triangulated_pct']:>16.1f}"
            f"{s['mean_mm']:>9.2f}{s['median_mm']:>11.2f}{s['within_5mm_pct']:>14.1f}  {names}"
        )
    text = "\n".join(lines) + "\n"
    if out is not None:
        atomic_write_text(Path(out), text)
    return text
