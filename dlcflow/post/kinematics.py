"""Kinematics of a pose dataset: velocity, speed, acceleration, centre, distances, angles,
heading and movement / freezing bouts. Pure computation: the pose data model in
(:mod:`dlcflow.data.pose`), an xarray Dataset out; files are :mod:`dlcflow.io.kinematics`'.

Steps, per individual and body part (:func:`kinematics`):

1. points whose likelihood is below ``pcutoff`` are missing (3D poses have none: kept);
2. gaps (runs of missing frames) of at most ``max_gap`` frames *inside* a track are
   filled by linear interpolation; longer gaps stay missing and nothing is computed
   across them (each stretch of present frames is differentiated on its own);
3. optional Savitzky–Golay smoothing (SciPy's ``savgol_filter``, ``window`` frames, odd,
   ``polyorder``), whose derivatives then give velocity and acceleration; without it,
   central differences (``numpy.gradient``). Stretches shorter than the window are
   differentiated by central differences;
4. velocity per space axis, speed (its norm), acceleration per axis and its norm, in units
   per second (``fps``) and units per second squared;
5. the body centre (mean of ``centre`` parts, default all; missing when one of them is),
   its velocity and speed; distances between ``pairs`` of parts; joint angles (degrees,
   0–180) of ``angles`` triples ``(a, vertex, b)``; the heading (degrees, ``atan2`` of
   the vector from ``heading[0]`` (tail) to ``heading[1]`` (head) in the x–y plane, image
   coordinates: y points down, so angles turn clockwise on screen);
6. movement and freezing bouts of the centre's speed (:mod:`dlcflow.post.bouts`).

Units: px (2D) or, with ``pixels_per_mm``, mm; 3D poses are in the calibration's units
(mm for DLC's checkerboards) and are never rescaled.

The ``movement`` package has the same kinematics but its pip install pulls a GUI stack
(Qt, napari, numba, cartopy); SciPy's filters do the job without one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy.signal import savgol_filter

from dlcflow.core.options import Options, check_bool, check_int, check_real
from dlcflow.data.pose import point_keys
from dlcflow.post.bouts import Bout, bout_mask, find_bouts, runs

__all__ = [
    "KinematicsError",
    "KinematicsOptions",
    "bouts_of",
    "clean_track",
    "derivatives",
    "kinematics",
    "pair_name",
    "triple_name",
]


class KinematicsError(ValueError):
    """Bad kinematics input; the one-line message names the file or config and the cause."""


def _pairs(value: object) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    items = list(value)  # type: ignore[call-overload]
    if items and isinstance(items[0], str):  # one group given flat
        items = [items]
    return tuple(tuple(str(p) for p in group) for group in items)


@dataclass(frozen=True)
class KinematicsOptions(Options):
    """How :func:`kinematics` works (module docstring); the workflow's ``kinematics``
    section. Speeds are in units per second (px/s, or mm/s with ``pixels_per_mm`` or 3D).

    ``pcutoff``: None takes the project config's ``pcutoff``; ``window`` 0 turns smoothing
    off; ``centre`` empty means every body part; ``heading`` is ``(tail, head)`` or empty;
    ``pixels_per_mm`` None keeps pixels; ``fps`` None takes the pose file's (its
    ``_meta.pickle``), else the video's.
    """

    pcutoff: float | None = None
    max_gap: int = 5
    window: int = 0
    polyorder: int = 2
    centre: tuple[str, ...] = ()
    pairs: tuple[tuple[str, ...], ...] = ()
    angles: tuple[tuple[str, ...], ...] = ()
    heading: tuple[str, ...] = ()
    freeze_speed: float = 20.0
    min_freeze_s: float = 1.0
    move_speed: float = 60.0
    min_move_s: float = 0.5
    pixels_per_mm: float | None = None
    fps: float | None = None
    filtered: bool = False
    save_as_csv: bool = True

    CONFIG_KEYS = (
        "pcutoff",
        "max_gap",
        "window",
        "polyorder",
        "centre",
        "pairs",
        "angles",
        "heading",
        "freeze_speed",
        "min_freeze_s",
        "move_speed",
        "min_move_s",
        "pixels_per_mm",
        "fps",
        "filtered",
        "save_as_csv",
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.pcutoff is not None:
            check_real(owner, "pcutoff", self.pcutoff, 0, 1)
        check_int(owner, "max_gap", self.max_gap)
        check_int(owner, "window", self.window)
        check_int(owner, "polyorder", self.polyorder)
        if self.window and (self.window % 2 == 0 or self.window <= self.polyorder):
            raise ValueError(
                f"{owner}: window {self.window} must be 0 (no smoothing) or odd and larger "
                f"than polyorder {self.polyorder}"
            )
        self._set("centre", tuple(str(c) for c in (self.centre or ())))
        self._set("pairs", _pairs(self.pairs))
        self._set("angles", _pairs(self.angles))
        self._set("heading", tuple(str(h) for h in (self.heading or ())))
        for name, groups, size in (("pairs", self.pairs, 2), ("angles", self.angles, 3)):
            bad = [g for g in groups if len(g) != size]
            if bad:
                raise ValueError(f"{owner}: {name} entry {list(bad[0])} must have {size} parts")
        if self.heading and len(self.heading) != 2:
            raise ValueError(f"{owner}: heading {list(self.heading)} must be [tail, head]")
        for name in ("freeze_speed", "min_freeze_s", "move_speed", "min_move_s"):
            check_real(owner, name, getattr(self, name), 0)
        for name in ("pixels_per_mm", "fps"):
            if getattr(self, name) is not None:
                check_real(owner, name, getattr(self, name), 0, open_ends=True)
        check_bool(owner, "filtered", self.filtered)
        check_bool(owner, "save_as_csv", self.save_as_csv)

    def to_config(self) -> dict[str, Any]:
        """The config section's values (lists where the fields hold tuples, as YAML has them)."""
        return {
            k: [list(g) for g in v]
            if k in ("pairs", "angles")
            else list(v)
            if isinstance(v, tuple)
            else v
            for k, v in super().to_config().items()
        }

    def parts(self) -> list[str]:
        """Every body part the options name (to check against the data)."""
        named = [*self.centre, *self.heading]
        for group in (*self.pairs, *self.angles):
            named += list(group)
        return list(dict.fromkeys(named))


def pair_name(pair: Sequence[str]) -> str:
    """A distance's feature name: ``distance(a,b)``."""
    return f"distance({','.join(pair)})"


def triple_name(triple: Sequence[str]) -> str:
    """A joint angle's feature name: ``angle(a,vertex,b)``."""
    return f"angle({','.join(triple)})"


# -- one track ----------------------------------------------------------------------------------
def clean_track(values: np.ndarray, max_gap: int) -> np.ndarray:
    """``values`` (time, space), NaN rows missing, with interior gaps of at most ``max_gap``
    frames filled linearly; longer gaps and the missing ends stay NaN."""
    out = np.array(values, dtype=float)
    present = np.isfinite(out).all(axis=1)
    out[~present] = np.nan
    if max_gap <= 0 or present.sum() < 2:
        return out
    idx = np.flatnonzero(present)
    for start, length in runs(~present):
        if length > max_gap or start == 0 or start + length == len(out):
            continue
        t = np.arange(start, start + length)
        for k in range(out.shape[1]):
            out[t, k] = np.interp(t, idx, out[idx, k])
    return out


def derivatives(
    values: np.ndarray, fps: float, window: int = 0, polyorder: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, velocity, acceleration) of a (time, space) track, each stretch of present
    frames on its own: Savitzky–Golay smoothed and differentiated with ``window`` > 0 (on
    stretches at least that long), central differences otherwise. Per second, from ``fps``."""
    dt = 1.0 / fps
    pos = np.array(values, dtype=float)
    vel = np.full_like(pos, np.nan)
    acc = np.full_like(pos, np.nan)
    for start, length in runs(np.isfinite(pos).all(axis=1)):
        seg = slice(start, start + length)
        x = pos[seg]
        if window and length >= window:
            kw: dict[str, Any] = {"window_length": window, "polyorder": polyorder, "axis": 0}
            pos[seg] = savgol_filter(x, **kw)
            vel[seg] = savgol_filter(x, deriv=1, delta=dt, **kw)
            acc[seg] = (
                savgol_filter(x, deriv=2, delta=dt, **kw)
                if polyorder >= 2
                else np.gradient(vel[seg], dt, axis=0)
            )
        elif length >= 2:
            vel[seg] = np.gradient(x, dt, axis=0)
            if length >= 3:
                acc[seg] = _second_difference(x, dt)
    return pos, vel, acc


def _second_difference(x: np.ndarray, dt: float) -> np.ndarray:
    """d²x/dt² by the three-point stencil; the ends take their neighbour's value."""
    acc = np.empty_like(x)
    acc[1:-1] = (x[2:] - 2 * x[1:-1] + x[:-2]) / dt**2
    acc[0], acc[-1] = acc[1], acc[-2]
    return acc


def _angle(a: np.ndarray, v: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The angle at ``v`` between ``a`` and ``b`` (time, space), degrees in [0, 180]."""
    u, w = a - v, b - v
    dot = np.sum(u * w, axis=1)
    if u.shape[1] == 2:
        cross = np.abs(u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0])
    else:
        cross = np.linalg.norm(np.cross(u, w), axis=1)
    return np.degrees(np.arctan2(cross, dot))


# -- a dataset ----------------------------------------------------------------------------------
def _check_parts(ds: xr.Dataset, opts: KinematicsOptions, where: str) -> None:
    present = [str(k) for k in ds["keypoints"].values]
    unknown = [p for p in opts.parts() if p not in present]
    if unknown:
        raise KinematicsError(
            f"{where}: kinematics body part {unknown[0]!r} is not in the pose data "
            f"(body parts: {', '.join(present)})"
        )


def kinematics(
    ds: xr.Dataset,
    options: KinematicsOptions | None = None,
    fps: float | None = None,
    pcutoff: float = 0.0,
    where: str = "pose data",
) -> xr.Dataset:
    """The kinematics of a pose dataset (module docstring). ``fps``: frames per second
    (default the options', then the dataset's ``fps`` attribute); ``pcutoff`` applies
    when the options have none. ``where`` names the data in error messages.

    Returns a Dataset on the pose dataset's ``time``, ``space``, ``keypoints`` and
    ``individuals`` with ``position`` (cleaned, smoothed), ``velocity``, ``speed``,
    ``acceleration``, ``acceleration_norm``; ``centre``, ``centre_velocity``,
    ``centre_speed``, ``centre_acceleration``, ``centre_acceleration_norm``; ``distance``
    (``pairs``), ``angle`` (``angles``), ``heading``; ``moving`` and ``freezing`` (bool).
    Attributes: ``fps``, ``unit``, ``scorer``, the options, ``source_file``.
    """
    opts = options if options is not None else KinematicsOptions()
    rate = opts.fps or fps or ds.attrs.get("fps")
    if not rate:
        raise KinematicsError(f"{where}: no frame rate (give fps or analyze with a video)")
    rate = float(rate)
    _check_parts(ds, opts, where)
    cutoff = opts.pcutoff if opts.pcutoff is not None else pcutoff
    three_d = ds.sizes["space"] == 3
    scale = 1.0 if three_d or opts.pixels_per_mm is None else 1.0 / opts.pixels_per_mm
    unit = "mm" if three_d or opts.pixels_per_mm is not None else "px"
    if three_d and opts.pixels_per_mm is not None:
        warnings.warn(f"{where}: 3D poses are in mm already; pixels_per_mm ignored", stacklevel=2)

    pos_in = ds["position"].transpose("time", "space", "keypoints", "individuals").values * scale
    conf = ds["confidence"].transpose("time", "keypoints", "individuals").values
    if ds.attrs.get("has_confidence", True) and cutoff > 0:
        with np.errstate(invalid="ignore"):
            low = conf < cutoff  # NaN likelihood (no value) is not low
        pos_in = np.where(low[:, None], np.nan, pos_in)

    n, n_space = pos_in.shape[:2]
    kps = [str(k) for k in ds["keypoints"].values]
    inds = [str(i) for i in ds["individuals"].values]
    pos = np.full_like(pos_in, np.nan)
    vel = np.full_like(pos_in, np.nan)
    acc = np.full_like(pos_in, np.nan)
    owned = {(i, k) for i, k in point_keys(ds)}
    for ii, ind in enumerate(inds):
        for kk, kp in enumerate(kps):
            if (ind, kp) not in owned:
                continue
            track = clean_track(pos_in[:, :, kk, ii], opts.max_gap)
            p, v, a = derivatives(track, rate, opts.window, opts.polyorder)
            pos[:, :, kk, ii], vel[:, :, kk, ii], acc[:, :, kk, ii] = p, v, a

    centre_parts = list(opts.centre) or kps
    centre = np.full((n, n_space, len(inds)), np.nan)
    c_vel, c_acc = np.full_like(centre, np.nan), np.full_like(centre, np.nan)
    dist = np.full((n, len(opts.pairs), len(inds)), np.nan)
    angle = np.full((n, len(opts.angles), len(inds)), np.nan)
    heading = np.full((n, len(inds)), np.nan)
    moving = np.zeros((n, len(inds)), dtype=bool)
    freezing = np.zeros((n, len(inds)), dtype=bool)

    def part(ind_index: int, name: str) -> np.ndarray:
        return pos[:, :, kps.index(name), ind_index]

    for ii, ind in enumerate(inds):
        mine = [p for p in centre_parts if (ind, p) in owned]
        if mine:
            # cleaned (not smoothed) parts: the centre is smoothed once, as a track of its own
            raw = np.stack(
                [clean_track(pos_in[:, :, kps.index(p), ii], opts.max_gap) for p in mine]
            )
            c = raw.mean(axis=0)  # NaN where any part is missing
            centre[:, :, ii], c_vel[:, :, ii], c_acc[:, :, ii] = derivatives(
                c, rate, opts.window, opts.polyorder
            )
        for j, (a, b) in enumerate(opts.pairs):
            if {(ind, a), (ind, b)} <= owned:
                dist[:, j, ii] = np.linalg.norm(part(ii, a) - part(ii, b), axis=1)
        for j, (a, v, b) in enumerate(opts.angles):
            if {(ind, a), (ind, v), (ind, b)} <= owned:
                angle[:, j, ii] = _angle(part(ii, a), part(ii, v), part(ii, b))
        if opts.heading and {(ind, opts.heading[0]), (ind, opts.heading[1])} <= owned:
            d = part(ii, opts.heading[1]) - part(ii, opts.heading[0])
            heading[:, ii] = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
        c_speed = np.linalg.norm(c_vel[:, :, ii], axis=1)
        found = find_bouts(
            c_speed,
            rate,
            opts.freeze_speed,
            opts.min_freeze_s,
            opts.move_speed,
            opts.min_move_s,
        )
        moving[:, ii] = bout_mask(found, "moving", n)
        freezing[:, ii] = bout_mask(found, "freezing", n)

    d4 = ("time", "space", "keypoints", "individuals")
    d3 = ("time", "space", "individuals")
    dk = ("time", "keypoints", "individuals")
    out = xr.Dataset(
        {
            "position": (d4, pos),
            "velocity": (d4, vel),
            "speed": (dk, np.linalg.norm(vel, axis=1)),
            "acceleration": (d4, acc),
            "acceleration_norm": (dk, np.linalg.norm(acc, axis=1)),
            "centre": (d3, centre),
            "centre_velocity": (d3, c_vel),
            "centre_speed": (("time", "individuals"), np.linalg.norm(c_vel, axis=1)),
            "centre_acceleration": (d3, c_acc),
            "centre_acceleration_norm": (("time", "individuals"), np.linalg.norm(c_acc, axis=1)),
            "distance": (("time", "pairs", "individuals"), dist),
            "angle": (("time", "angles", "individuals"), angle),
            "heading": (("time", "individuals"), heading),
            "moving": (("time", "individuals"), moving),
            "freezing": (("time", "individuals"), freezing),
        },
        coords={
            "time": ds["time"].values,
            "space": ds["space"].values,
            "keypoints": kps,
            "individuals": inds,
            "pairs": [pair_name(p) for p in opts.pairs],
            "angles": [triple_name(t) for t in opts.angles],
        },
        attrs={
            "fps": rate,
            "unit": unit,
            "scorer": str(ds.attrs.get("scorer", "")),
            "multianimal": bool(ds.attrs.get("multianimal", False)),
            "unique_keypoints": list(ds.attrs.get("unique_keypoints", ())),
            "source_file": ds.attrs.get("source_file"),
            "pcutoff": float(cutoff),
            "has_heading": bool(opts.heading),
            "options": repr(opts),
        },
    )
    return out


def bouts_of(kin: xr.Dataset, individual: str) -> list[Bout]:
    """The bouts of an individual in a :func:`kinematics` result (from its masks)."""
    fps = float(kin.attrs["fps"])
    found = []
    for kind in ("moving", "freezing"):
        mask = kin[kind].sel(individuals=individual).values.astype(bool)
        found += [Bout(kind, s, n, fps) for s, n in runs(mask)]
    return sorted(found, key=lambda b: b.start)
