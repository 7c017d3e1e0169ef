"""Post-processing of pose files: filters (median, arima, spline) and skeleton features.

Pose files are the ``<stem><scorer>.h5`` tables of video analysis (columns ``scorer ×
bodyparts × (x, y, likelihood)``, one row per frame); in a multi-animal project, the
stitched tracks ``<stem><scorer>_el.h5`` (``_bx``, ``_sk``: DLC's ``track_method``) with
the ``individuals`` level, filtered per individual and body part. Outputs keep DLC 2.3's
names and structures (see ``shared/DLC_FORMATS.md``; tracks give ``_el_filtered.h5`` and
``_el_skeleton.h5``) and are written atomically:

* :func:`filterpredictions` / :func:`filter_file`: ``<data stem>_filtered.h5`` (pandas table
  format, key ``df_with_missing``, the pose file's columns and rows) and the ``.csv``.
* :func:`analyzeskeleton` / :func:`skeleton_file`: ``<data stem>_skeleton.h5``, columns
  ``bone × (length, orientation, likelihood)`` with bone ``<bp1>_<bp2>``.

Where DLC's behaviour is a bug, the format is kept and the behaviour fixed: the median
filter does not zero-pad the ends, a bone's likelihood is the smaller of its two ends',
and the ``fitting`` distances are matched to the right frames.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.core.log import log
from dlcflow.core.options import Options, check_bool, check_choice, check_int, check_real
from dlcflow.data.pose import SINGLE, point_keys, point_name, points_array, with_points
from dlcflow.io.poses import read_poses, skeleton_table, write_table
from dlcflow.io.tables import to_dataset, to_frame
from dlcflow.project.paths import Project
from dlcflow.project.posefiles import pose_files, up_to_date

__all__ = [
    "FILTERTYPES",
    "FilterOptions",
    "analyzeskeleton",
    "filter_file",
    "filter_poses",
    "filterpredictions",
    "fit_sarimax",
    "median_filter",
    "skeleton_features",
    "skeleton_file",
    "spline_fill",
]

FILTERTYPES = ("median", "arima", "spline")
#: Likelihood given to points filled in by the spline filter (DLC's value).
SPLINE_LIKELIHOOD = 0.01
#: SARIMAX needs more than this many confident points (DLC's threshold).
MIN_SARIMAX_POINTS = 10


@dataclass(frozen=True)
class FilterOptions(Options):
    """How :func:`filter_file` filters a pose file: DLC's ``filterpredictions`` arguments
    with their defaults (see :func:`filter_poses`); the workflow's ``filter`` section."""

    filtertype: str = "median"
    windowlength: int = 5
    p_bound: float = 0.001
    ARdegree: int = 3
    MAdegree: int = 1
    alpha: float = 0.01
    save_as_csv: bool = True

    CONFIG_KEYS = (
        "filtertype",
        "windowlength",
        "p_bound",
        "ARdegree",
        "MAdegree",
        "alpha",
        "save_as_csv",
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_choice(owner, "filtertype", self.filtertype, FILTERTYPES)
        check_int(owner, "windowlength", self.windowlength, minimum=1)
        check_real(owner, "p_bound", self.p_bound, 0, 1)
        check_int(owner, "ARdegree", self.ARdegree)
        check_int(owner, "MAdegree", self.MAdegree)
        check_real(owner, "alpha", self.alpha, 0, 1, open_ends=True)
        check_bool(owner, "save_as_csv", self.save_as_csv)


# -- filters ------------------------------------------------------------------------------------
def median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Running median of a 1-D signal over ``window`` samples (odd), NaN-aware.

    At the ends the window shrinks to the samples that exist. DLC uses
    ``scipy.signal.medfilt``, which pads with zeros and so drags the first and last
    ``window // 2`` points towards 0 (with window 5 the first output is the smallest of
    the first three values). NaN samples are ignored; a NaN input stays NaN.
    """
    x = np.asarray(values, dtype=float)
    half = window // 2
    if x.size == 0 or half == 0:
        return x.copy()
    padded = np.pad(x, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        out = np.nanmedian(windows, axis=1)
    out[np.isnan(x)] = np.nan
    return out


def fit_sarimax(
    x: np.ndarray,
    p: np.ndarray,
    p_bound: float,
    alpha: float = 0.01,
    ARdegree: int = 3,
    MAdegree: int = 1,
) -> tuple[np.ndarray, np.ndarray] | None:
    """In-sample one-step-ahead prediction of a SARIMAX(ARdegree, 0, MAdegree) model.

    Points with likelihood below ``p_bound`` (and NaN points) are missing data. The
    series is centred on the mean of its confident points first (a SARIMAX without trend
    models a zero-mean process). Returns the predicted mean (n,) and its ``1 - alpha``
    confidence interval (n, 2), or None when there are ``MIN_SARIMAX_POINTS`` confident
    points or fewer.
    """
    import statsmodels.api as sm  # noqa: PLC0415 (slow import, only for arima/fitting)

    y = np.asarray(x, dtype=float).copy()
    with np.errstate(invalid="ignore"):
        y[~(np.asarray(p, dtype=float) >= p_bound)] = np.nan
    finite = np.isfinite(y)
    if finite.sum() <= MIN_SARIMAX_POINTS:
        return None
    offset = float(y[finite].mean())
    y -= offset
    order = (int(ARdegree), 0, int(MAdegree))

    def model(**kwargs: bool) -> sm.tsa.statespace.SARIMAX:
        return sm.tsa.statespace.SARIMAX(y, order=order, simple_differencing=True, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and start-parameter chatter
        mod = model()
        try:
            res = mod.fit(disp=False)
        except ValueError:  # DLC's fallback: neutral start parameters
            start = [1.0 if "sigma" in name else 0.0 for name in mod.param_names]
            res = mod.fit(start_params=start, disp=False)
        except np.linalg.LinAlgError:
            mod = model(enforce_stationarity=False, enforce_invertibility=False)
            res = mod.fit(disp=False)
        pred = res.get_prediction(end=mod.nobs - 1)
        mean = np.asarray(pred.predicted_mean, dtype=float) + offset
        ci = np.asarray(pred.conf_int(alpha=alpha), dtype=float) + offset
    return mean, ci


def spline_fill(values: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill runs of NaN of at most ``max_gap`` samples with a cubic spline.

    The spline goes through every valid sample (which stay as they are). Only gaps with
    valid samples on both sides are filled (no extrapolation at the ends); at least 4
    valid samples are needed. Returns the filled signal and a mask of the filled samples.
    """
    from scipy.interpolate import CubicSpline  # noqa: PLC0415

    x = np.asarray(values, dtype=float).copy()
    missing = np.isnan(x)
    filled = np.zeros(x.shape, bool)
    valid = np.flatnonzero(~missing)
    if valid.size < 4 or not missing.any():
        return x, filled
    edges = np.flatnonzero(np.diff(np.r_[0, missing.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if start > 0 and stop < x.size and stop - start <= max_gap:
            filled[start:stop] = True
    if filled.any():
        spline = CubicSpline(valid, x[valid])
        x[filled] = spline(np.flatnonzero(filled))
    return x, filled


def filter_poses(
    df: pd.DataFrame,
    filtertype: str = "median",
    windowlength: int = 5,
    p_bound: float = 0.001,
    ARdegree: int = 3,
    MAdegree: int = 1,
    alpha: float = 0.01,
    where: str = "",
) -> pd.DataFrame:
    """Filter a pose table; returns a new table with the same columns and rows.

    ``median``: running median of x and y over ``windowlength`` frames (odd; an even
    window is widened by one with a warning), ends not zero-padded, likelihoods kept.
    ``arima``: x and y replaced by the in-sample one-step prediction of a SARIMAX
    (ARdegree, 0, MAdegree) fit (:func:`fit_sarimax`), likelihood < ``p_bound`` treated
    as missing, the first frame kept as it was (as DLC does); a point with too few
    confident frames keeps its raw values (with a warning). ``spline``: NaN gaps of at
    most ``windowlength`` frames filled (:func:`spline_fill`), filled points get
    likelihood 0.01. Body parts without any prediction stay NaN, with a warning.
    ``where`` names the data in messages.
    """
    if filtertype not in FILTERTYPES:
        raise ValueError(f"filtertype {filtertype!r} is not one of {', '.join(FILTERTYPES)}")
    window = int(windowlength)
    if window < 1:
        raise ValueError(f"windowlength must be a positive integer, not {windowlength!r}")
    if filtertype == "median" and window % 2 == 0:
        warnings.warn(f"median windowlength {window} is even; using {window + 1}", stacklevel=2)
        window += 1
    label = f"{where}: " if where else ""
    ds = to_dataset(df)
    keys = point_keys(ds)
    xy = points_array(ds, keys)  # (frames, points, 2)
    likelihood = points_array(ds, keys, "confidence")  # (frames, points)
    for j, key in enumerate(keys):
        x, y, p = xy[:, j, 0].copy(), xy[:, j, 1].copy(), likelihood[:, j].copy()
        name = point_name(ds, key)
        if np.isnan(x).all() or np.isnan(y).all():
            warnings.warn(f"{label}{name} has no predictions; left as NaN", stacklevel=2)
            continue
        if filtertype == "median":
            xy[:, j, 0], xy[:, j, 1] = median_filter(x, window), median_filter(y, window)
        elif filtertype == "arima":
            fits = [fit_sarimax(v, p, p_bound, alpha, ARdegree, MAdegree) for v in (x, y)]
            if fits[0] is None or fits[1] is None:
                with np.errstate(invalid="ignore"):
                    confident = int((p >= p_bound).sum())
                warnings.warn(
                    f"{label}{name}: only {confident} of {len(p)} frames have likelihood "
                    f">= p_bound {p_bound}; too few for ARIMA, kept unfiltered",
                    stacklevel=2,
                )
                continue
            for axis, raw, (mean, _) in zip((0, 1), (x, y), fits, strict=True):
                mean[0] = raw[0]
                xy[:, j, axis] = mean
        else:
            fx, mask_x = spline_fill(x, window)
            fy, mask_y = spline_fill(y, window)
            if (~np.isnan(x)).sum() < 4:
                warnings.warn(
                    f"{label}{name}: fewer than 4 predictions; gaps left unfilled",
                    stacklevel=2,
                )
            xy[:, j, 0], xy[:, j, 1] = fx, fy
            likelihood[mask_x | mask_y, j] = SPLINE_LIKELIHOOD
    filtered = with_points(with_points(ds, xy, keys), likelihood, keys, "confidence")
    return to_frame(filtered).set_axis(df.index, axis=0)


# -- skeleton -----------------------------------------------------------------------------------
def skeleton_features(
    df: pd.DataFrame, skeleton: Sequence[Sequence[str]], where: str = ""
) -> pd.DataFrame:
    """Length, orientation and likelihood of every bone of ``skeleton`` in every frame.

    Columns ``(bone, feature)`` as DLC writes them: bone ``<bp1>_<bp2>`` (multi animal:
    ``<individual>_<bp1>_<bp2>``, the ``single`` individual skipped), features
    ``length`` (px), ``orientation`` (degrees in [0, 360): ``atan2(y2 - y1, x2 - x1)`` in
    image coordinates, y pointing down, so a bone pointing right is 0, down 90, left 180
    and up 270) and ``likelihood`` (the smaller of the two ends'; DLC took the second
    end's twice). NaN where an end is NaN.
    """
    if not skeleton:
        raise ValueError(f"{where or 'config'}: no skeleton defined (config key 'skeleton')")
    ds = to_dataset(df)
    keys = set(point_keys(ds))
    xy, likelihood = ds["position"], ds["confidence"]
    multi = ds.attrs["multianimal"]
    individuals = [str(i) for i in ds["individuals"].values if str(i) != SINGLE]
    features: dict[str, np.ndarray] = {}
    for ind in individuals:
        for bone in skeleton:
            if len(bone) != 2:
                raise ValueError(f"{where}: skeleton entry {list(bone)} is not a pair")
            ends = []
            for bp in bone:
                if str(bp) in ds.attrs.get("unique_keypoints", ()):
                    raise ValueError(
                        f"{where}: skeleton body part {bp!r} is a unique body part (under "
                        f"{SINGLE!r}); a bone joins body parts of one individual"
                    )
                if (ind, str(bp)) not in keys:
                    raise ValueError(
                        f"{where}: skeleton body part {bp!r} is not in the pose data "
                        f"(body parts: {', '.join(str(k) for k in ds['keypoints'].values)})"
                    )
                at = {"individuals": ind, "keypoints": str(bp)}
                point = xy.sel(at)
                ends.append(
                    np.stack(
                        [point.sel(space="x"), point.sel(space="y"), likelihood.sel(at)], axis=1
                    )
                )
            (x1, y1, p1), (x2, y2, p2) = (e.T for e in ends)
            dx, dy = x2 - x1, y2 - y1
            angle = np.degrees(np.arctan2(dy, dx)) % 360.0
            angle[angle >= 360.0] -= 360.0  # -1e-15 % 360 rounds to 360
            name = "_".join([*([ind] if multi else []), str(bone[0]), str(bone[1])])
            features[name] = np.stack([np.hypot(dx, dy), angle, np.minimum(p1, p2)], axis=1)
    return skeleton_table(features, df.index)


# -- files of one video -------------------------------------------------------------------------
def filter_file(
    h5_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: FilterOptions | None = None,
) -> Path:
    """Filter one pose file (see :func:`filter_poses`) into ``output`` (default
    ``<data stem>_filtered.h5``) and, with ``options.save_as_csv``, the csv beside it.
    Returns the h5 path. This is what the workflow's ``filter`` rule calls."""
    opts = options if options is not None else FilterOptions()
    src = Path(h5_path)
    out = Path(output) if output is not None else Project.derived_output(src, "_filtered.h5")
    df = read_poses(src)
    if len(df) < 10:
        warnings.warn(f"{src}: only {len(df)} frames; filtering them anyway", stacklevel=2)
    filtered = filter_poses(
        df,
        opts.filtertype,
        opts.windowlength,
        opts.p_bound,
        opts.ARdegree,
        opts.MAdegree,
        opts.alpha,
        where=str(src),
    )
    write_table(filtered, out, opts.save_as_csv)
    log(f"Filtered {src.name} ({opts.filtertype}) into {out}")
    return out


def skeleton_file(
    h5_path: str | os.PathLike[str],
    skeleton: Sequence[Sequence[str]],
    output: str | os.PathLike[str] | None = None,
    save_as_csv: bool = False,
) -> Path:
    """Skeleton features (:func:`skeleton_features`) of one pose file into ``output``
    (default ``<data stem>_skeleton.h5``). Returns the h5 path (the ``skeleton`` rule's)."""
    src = Path(h5_path)
    out = Path(output) if output is not None else Project.derived_output(src, "_skeleton.h5")
    features = skeleton_features(read_poses(src), skeleton, where=str(src))
    write_table(features, out, save_as_csv)
    log(f"Skeleton features of {src.name} in {out}")
    return out


def filterpredictions(
    config: str | os.PathLike[str],
    video: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtertype: str = "median",
    windowlength: int = 5,
    p_bound: float = 0.001,
    ARdegree: int = 3,
    MAdegree: int = 1,
    alpha: float = 0.01,
    save_as_csv: bool = True,
    destfolder: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    track_method: str = "",
    *,
    options: FilterOptions | None = None,
) -> list[Path]:
    """Filter the predictions of analyzed videos (DLC's ``filterpredictions``).

    Writes ``<stem><scorer>_filtered.h5`` (+ ``.csv`` with ``save_as_csv``) beside each
    pose file. ``filtertype``: ``"median"`` (window ``windowlength``, odd; unlike DLC the
    ends are not zero-padded: the window shrinks there), ``"arima"`` (SARIMAX
    (``ARdegree``, 0, ``MAdegree``) in-sample one-step prediction, likelihood <
    ``p_bound`` treated as missing; ``alpha`` is its confidence level) or ``"spline"``
    (NaN gaps of at most ``windowlength`` frames filled by a cubic spline, filled points
    get likelihood 0.01; only gaps inside the recording). Details in :func:`filter_poses`.

    Multi-animal projects filter the video's stitched tracks of ``track_method``
    (``ellipse``, ``box`` or ``skeleton``; empty: the config's ``default_track_method``)
    into ``<stem><scorer>_el_filtered.h5``, each individual's body parts on their own.

    ``options``: a :class:`FilterOptions` instead of the filter arguments, which must then
    keep their defaults. A filtered file newer than its pose file is kept unless
    ``overwrite``. Videos not analyzed are skipped with a warning. Returns the filtered files.
    """
    opts = FilterOptions.gather(options, locals(), "filterpredictions")
    project = Project(config)
    written = []
    found = pose_files(
        project, video, videotype, shuffle, trainingsetindex, False, destfolder, track_method
    )
    for path, src in found:
        out = Project.derived_output(src, "_filtered.h5")
        if not overwrite and up_to_date(out, src):
            log(f"{path.name}: already filtered ({out.name}); overwrite=True filters again")
        else:
            filter_file(src, out, opts)
        written.append(out)
    return written


def analyzeskeleton(
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    filtered: bool = False,
    save_as_csv: bool = False,
    destfolder: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    track_method: str = "",
) -> list[Path]:
    """Length, orientation and likelihood of each bone of the config's ``skeleton`` in
    every frame (DLC's ``analyzeskeleton``): ``<data stem>_skeleton.h5`` (+ csv), from
    the filtered data with ``filtered``. See :func:`skeleton_features`. Multi-animal
    projects read the tracks of ``track_method`` (see :func:`filterpredictions`) and get
    one bone per individual, ``<individual>_<bp1>_<bp2>``, in ``_el_skeleton.h5``. An
    output newer than its pose file is kept unless ``overwrite``; videos not analyzed are
    skipped with a warning. Returns the skeleton files."""
    project = Project(config)
    skeleton = [list(bone) for bone in project.cfg.get("skeleton") or []]
    if not skeleton:
        raise ValueError(f"{project.config_path}: no skeleton defined (config key 'skeleton')")
    written = []
    found = pose_files(
        project, videos, videotype, shuffle, trainingsetindex, filtered, destfolder, track_method
    )
    for path, src in found:
        out = Project.derived_output(src, "_skeleton.h5")
        if not overwrite and up_to_date(out, src):
            log(f"{path.name}: skeleton already computed ({out.name})")
        else:
            skeleton_file(src, skeleton, out, save_as_csv)
        written.append(out)
    return written
