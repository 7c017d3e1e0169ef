"""DLC 2.3's ``calibrate_cameras`` and ``check_undistortion`` for a rig of any size.

Calibration images are ``calibration_images/<camera>-NN.jpg`` (the camera's name in the
file name); the views of one board placement share the file stem without the camera name
(:func:`dlcflow.project.project3d.recording_name`). A first pass (``calibrate=False``)
finds the board in every image, draws the corners to ``corners/<image>_corner.jpg`` and
moves every view of a placement where some camera missed the board to
``removed_calibration_images/``, as DLC does. ``calibrate=True`` then writes DLC's files:
``camera_matrix/<cam>_intrinsic_params.pickle`` (``cv2.calibrateCamera``) and, for the
first two cameras, ``stereo_params.pickle`` (``cv2.stereoCalibrate`` with the intrinsics
fixed, then ``cv2.stereoRectify``), and dlcflow's Anipose ``calibration.toml`` of all
cameras (pair-graph extrinsics, then bundle adjustment) and ``reprojection_errors.csv``.

Units: with ``square_size`` (mm) translations are in mm; without it, in squares (DLC's
unit). DLC hands OpenCV the image size as ``(h, w)``; here it is ``(w, h)`` as OpenCV means.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.data.cameras import Camera, CameraGroup
from dlcflow.geometry.boards import Board, Detection, make_board
from dlcflow.geometry.bundle import BundleResult, bundle_adjust, observations, rig_result
from dlcflow.geometry.calibrate import CalibrationError, Intrinsics, calibrate_intrinsics
from dlcflow.geometry.extrinsics import (
    align_symmetric,
    initial_board_poses,
    initial_extrinsics,
    solve_board_poses,
)
from dlcflow.geometry.triangulate import triangulate_points
from dlcflow.io.calibration import (
    load_calibration,
    read_calibration_toml,
    write_calibration_toml,
    write_intrinsics_pickle,
    write_stereo_pickle,
)
from dlcflow.plots.calibration import plot_reprojection_errors, plot_triangulated_boards
from dlcflow.project.project3d import Project3D, recording_name

__all__ = ["CalibrationError", "calibrate_cameras", "check_undistortion"]

MIN_IMAGE_SETS = 3


def _board(
    kind: str, cbrow: int, cbcol: int, square_size: float | None, charuco: Mapping | None
) -> Board:
    try:
        return make_board(kind, cbrow, cbcol, float(square_size or 1.0), dict(charuco or {}))
    except ValueError as err:
        raise CalibrationError(f"calibration board: {err}") from None


def _read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise CalibrationError(f"{path}: not a readable image")
    return img


def _detect_all(
    proj: Project3D, board: Board
) -> tuple[dict[str, dict[str, Path]], dict[str, dict[str, Detection]], dict[str, tuple[int, int]]]:
    """Every camera's images (set id → path), detections (set id → corners), size."""
    folder = proj.calibration_images_dir
    images: dict[str, dict[str, Path]] = {}
    found: dict[str, dict[str, Detection]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for cam in proj.camera_names:
        paths = proj.calibration_images(cam)
        if not paths:
            raise CalibrationError(f"{folder}/: no images of {cam}")
        images[cam], found[cam] = {}, {}
        first: Path | None = None
        for path in paths:
            key = recording_name(path.stem, cam) or path.stem
            gray = _read_gray(path)
            size = (int(gray.shape[1]), int(gray.shape[0]))
            if first is None:
                first, sizes[cam] = path, size
            elif size != sizes[cam]:
                raise CalibrationError(
                    f"{path}: image is {size[0]}×{size[1]} but {first.name} of {cam} is "
                    f"{sizes[cam][0]}×{sizes[cam][1]} (one camera, one image size)"
                )
            images[cam][key] = path
            det = board.detect(gray)
            if det is not None and len(det) >= board.min_corners:
                found[cam][key] = det
        log(f"{cam}: {board.describe()} found in {len(found[cam])} of {len(paths)} images")
        if not found[cam]:
            raise CalibrationError(f"{folder}/: {board.describe()} not found in any image of {cam}")
    return images, found, sizes


def _draw_corners(proj: Project3D, board: Board, images: Mapping, found: Mapping) -> None:
    proj.corners_dir.mkdir(parents=True, exist_ok=True)
    for cam, dets in found.items():
        for key, det in dets.items():
            path = images[cam][key]
            drawn = board.draw(cv2.imread(str(path)), det)
            out = proj.corner_image(path)
            with atomic_path(out) as tmp:
                cv2.imwrite(str(tmp), drawn)


def _remove_incomplete(proj: Project3D, images: Mapping, found: Mapping) -> list[str]:
    """Move every view of a set that some camera lacks or missed the board in; the sets
    kept (seen by all cameras)."""
    cams = proj.camera_names
    keys = sorted({k for cam in cams for k in images[cam]})
    kept = []
    for key in keys:
        if all(key in found[cam] for cam in cams):
            kept.append(key)
            continue
        proj.removed_images_dir.mkdir(parents=True, exist_ok=True)
        missed = [cam for cam in cams if key not in found[cam]]
        for cam in cams:
            path = images[cam].get(key)
            if path is not None:
                shutil.move(str(path), str(proj.removed_images_dir / path.name))
        log(
            f"{key}: board not found in the view of {', '.join(missed)}; its images moved "
            f"to {proj.removed_images_dir.name}/"
        )
    return kept


def _dlc_points(board: Board, det: Detection) -> tuple[np.ndarray, np.ndarray]:
    return (
        board.object_points[det.ids].astype(np.float32),
        det.corners.reshape(-1, 1, 2).astype(np.float32),
    )


def _stereo(
    board: Board,
    names: tuple[str, str],
    keys: list[str],
    found: Mapping[str, Mapping[str, Detection]],
    intr: Mapping[str, Intrinsics],
    sizes: Mapping[str, tuple[int, int]],
    alpha: float,
) -> dict[str, Any]:
    """DLC's stereo parameters of the first two cameras."""
    a, b = names
    objs, pts1, pts2 = [], [], []
    for key in keys:
        da, db = found[a][key], found[b][key]
        ids = np.intersect1d(da.ids, db.ids)
        if len(ids) < 4:
            continue
        ia, ib = np.searchsorted(da.ids, ids), np.searchsorted(db.ids, ids)
        objs.append(board.object_points[ids].astype(np.float32))
        pts1.append(da.corners[ia].reshape(-1, 1, 2).astype(np.float32))
        pts2.append(db.corners[ib].reshape(-1, 1, 2).astype(np.float32))
    size = sizes[a]
    _, m1, d1, m2, d2, r, t, e, f = cv2.stereoCalibrate(
        objs,
        pts1,
        pts2,
        intr[a].matrix,
        intr[a].dist.reshape(1, -1),
        intr[b].matrix,
        intr[b].dist.reshape(1, -1),
        size,
        flags=cv2.CALIB_FIX_INTRINSIC,
    )
    r1, r2, p1, p2, q, roi1, roi2 = cv2.stereoRectify(m1, d1, m2, d2, size, r, t, alpha=alpha)
    return {
        "cameraMatrix1": m1,
        "cameraMatrix2": m2,
        "distCoeffs1": d1,
        "distCoeffs2": d2,
        "R": r,
        "T": t,
        "E": e,
        "F": f,
        "R1": r1,
        "R2": r2,
        "P1": p1,
        "P2": p2,
        "roi1": roi1,
        "roi2": roi2,
        "Q": q,
        "image_shape": [sizes[a], sizes[b]],
    }


def _error_table(result: BundleResult, images: Mapping[str, Mapping[str, Path]]) -> pd.DataFrame:
    rows = [
        {"camera": cam, "image": images[cam][key].name, "error_px": err}
        for (cam, key), err in result.image_errors().items()
    ]
    return pd.DataFrame(rows, columns=["camera", "image", "error_px"])


def calibrate_cameras(
    config: str | os.PathLike[str],
    cbrow: int = 8,
    cbcol: int = 6,
    calibrate: bool = False,
    alpha: float = 0.4,
    square_size: float | None = None,
    board: str = "checkerboard",
    charuco: Mapping[str, Any] | None = None,
    bundle: bool = True,
    bundle_intrinsics: bool = True,
) -> Path | None:
    """Find the board in every calibration image (and with ``calibrate`` calibrate the
    rig); the path of ``calibration.toml`` when calibrated, else None.

    ``board`` is ``"checkerboard"`` (``cbcol × cbrow`` inner corners) or ``"charuco"``
    (``charuco``: ``squares_x``, ``squares_y``, ``marker_length`` or ``marker_ratio``,
    ``dictionary``); ``square_size`` in mm (None: DLC's unit, a square). The bundle
    adjustment (``bundle``) refines the cameras' intrinsics too unless
    ``bundle_intrinsics`` is False (DLC's pickles keep ``calibrateCamera``'s)."""
    proj = Project3D(config)
    pattern = _board(board, cbrow, cbcol, square_size, charuco)
    cams = proj.camera_names
    images, found, sizes = _detect_all(proj, pattern)
    complete = [k for k in sorted(images[cams[0]]) if all(k in found[c] for c in cams)]
    if calibrate and len(complete) < MIN_IMAGE_SETS:
        raise CalibrationError(
            f"{proj.calibration_images_dir}/: the board is found in every camera's view of "
            f"{len(complete)} image set(s); {MIN_IMAGE_SETS} or more are needed to calibrate"
        )
    _draw_corners(proj, pattern, images, found)
    keys = _remove_incomplete(proj, images, found)
    found = {cam: {k: found[cam][k] for k in keys} for cam in cams}
    if not calibrate:
        log(
            f"Corners extracted to {proj.corners_dir}: check them, remove image sets with "
            "wrongly ordered corners, then run again with calibrate=True"
        )
        return None

    intr: dict[str, Intrinsics] = {}
    proj.camera_matrix_dir.mkdir(parents=True, exist_ok=True)
    for cam in cams:
        intr[cam] = calibrate_intrinsics(pattern, found[cam], sizes[cam])
    for cam in cams:
        objs, pts = zip(*(_dlc_points(pattern, found[cam][k]) for k in keys), strict=True)
        write_intrinsics_pickle(
            proj.intrinsics_file(cam), cam, intr[cam].matrix, intr[cam].dist, objs, pts
        )
        log(
            f"{cam}: intrinsics from {len(keys)} images, mean reprojection error "
            f"{np.mean(list(intr[cam].errors.values())):.3f} px → {proj.intrinsics_file(cam).name}"
        )
    stereo = _stereo(pattern, (cams[0], cams[1]), keys, found, intr, sizes, alpha)
    write_stereo_pickle(proj.stereo_file, {f"{cams[0]}-{cams[1]}": stereo})

    rig = [Camera(c, sizes[c], intr[c].matrix, intr[c].dist) for c in cams]
    poses = {cam.name: solve_board_poses(pattern, found[cam.name], cam) for cam in rig}
    group = initial_extrinsics(rig, poses)
    board_poses = initial_board_poses(group, poses)
    found, poses, turned = align_symmetric(pattern, group, poses, board_poses, found)
    for cam, key in turned:
        log(f"{images[cam][key].name}: corners numbered from the board's other end; turned")
    if turned:  # the first guess again, from views that agree
        group = initial_extrinsics(rig, poses)
        board_poses = initial_board_poses(group, poses)
    obs = observations(pattern, found, cams)
    if bundle:
        result = bundle_adjust(group, obs, board_poses, intrinsics=bundle_intrinsics)
    else:
        result = rig_result(group, obs, board_poses)
    table = _error_table(result, images)
    unit = "mm" if square_size else "squares"
    metadata = {
        "adjusted": bool(bundle),
        "error": result.mean_error,
        "board": pattern.describe(),
        "square_size": float(square_size or 1.0),
        "units": unit,
    }
    write_calibration_toml(result.group, proj.calibration_file, metadata)
    with atomic_path(proj.reprojection_errors) as tmp:
        table.to_csv(tmp, index=False)
    plot_reprojection_errors(table, proj.reprojection_errors_plot)
    for cam, err in result.camera_errors().items():
        pos = result.group[cam].position
        log(
            f"{cam}: rig reprojection error {err:.3f} px; position "
            f"({pos[0]:.1f}, {pos[1]:.1f}, {pos[2]:.1f}) {unit} in {cams[0]}'s frame"
        )
    dropped = int((~result.inliers).sum())
    log(
        f"Calibration of {len(cams)} cameras from {len(keys)} image sets "
        f"({'bundle adjusted' if bundle else 'not adjusted'}; {dropped} outlier corners left "
        f"out) → {proj.calibration_file}"
    )
    return proj.calibration_file


def _turned_fits_better(group: CameraGroup, px: np.ndarray, c: int) -> bool:
    """Whether view ``c``'s corners of a board that looks the same turned by 180° agree
    better with the views before it numbered from the board's other end (OpenCV may number
    either way); False when no view before it saw the board."""
    seen = [k for k in range(c) if not np.isnan(px[k]).all()]
    if not seen:
        return False
    errors = []
    for view in (px[c], px[c, ::-1]):
        pair = np.full_like(px, np.nan)
        pair[seen] = px[seen]
        pair[c] = view
        errors.append(np.nanmean(triangulate_points(group, pair).error))
    return bool(errors[1] < errors[0])


def triangulate_boards(
    group: CameraGroup, board: Board, views: Mapping[str, Mapping[str, Detection]]
) -> dict[str, np.ndarray]:
    """The board corners ``(n, 3)`` of every image set that two or more cameras saw
    (``views``: set → camera → detection), triangulated with ``group``. A board that looks
    the same turned by 180° may be numbered from either end in a view: each view keeps the
    numbering that agrees with the views before it."""
    n = len(board.object_points)
    points = {}
    for key, dets in sorted(views.items()):
        if len(dets) < 2:
            continue
        px = np.full((len(group), n, 2), np.nan)
        for c, cam in enumerate(group):
            if cam.name in dets:
                px[c, dets[cam.name].ids] = dets[cam.name].corners
                if board.symmetric and _turned_fits_better(group, px, c):
                    px[c] = px[c, ::-1].copy()
        points[key] = triangulate_points(group, px).points
    return points


def check_undistortion(
    config: str | os.PathLike[str],
    cbrow: int = 8,
    cbcol: int = 6,
    board: str = "checkerboard",
    charuco: Mapping[str, Any] | None = None,
    square_size: float | None = None,
) -> Path:
    """Undistort every calibration image to ``undistortion/`` and plot the board corners
    triangulated with ``calibration.toml``; the plot's path."""
    proj = Project3D(config)
    group = load_calibration(proj.calibration_file, proj.camera_names)
    unit = str(read_calibration_toml(proj.calibration_file)[1].get("units", "squares"))
    pattern = _board(board, cbrow, cbcol, square_size, charuco)
    proj.undistortion_dir.mkdir(parents=True, exist_ok=True)
    views: dict[str, dict[str, Detection]] = {}
    for cam in group:
        for path in proj.calibration_images(cam.name):
            img = cv2.imread(str(path))
            if img is None:
                raise CalibrationError(f"{path}: not a readable image")
            with atomic_path(proj.undistorted_image(path)) as tmp:
                cv2.imwrite(str(tmp), cv2.undistort(img, cam.matrix, cam.dist))
            det = pattern.detect(img)
            if det is not None:
                views.setdefault(recording_name(path.stem, cam.name) or path.stem, {})[cam.name] = (
                    det
                )
    plot_triangulated_boards(
        triangulate_boards(group, pattern, views), proj.undistortion_plot, unit=unit
    )
    log(f"Undistorted images in {proj.undistortion_dir}; board corners → {proj.undistortion_plot}")
    return proj.undistortion_plot
