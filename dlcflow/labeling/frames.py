"""Frame selection for labeling and the labeled-data PNGs (DLC's ``extract_frames``).

For each video of the project's ``video_sets`` a few frames are picked from the part of
the video between the config's ``start`` and ``stop`` (fractions of its length) and
written as ``labeled-data/<video stem>/img<index>.png``, the index zero-filled to
``ceil(log10(nframes))`` digits as DLC does.

Algorithms:

* ``uniform``: ``numframes2pick`` frames evenly spaced over ``[start, stop]``, first and
  last frame included (deterministic; DLC draws them at random from that range).
* ``kmeans``: every ``cluster_step``-th frame is shrunk to ``cluster_resizewidth``
  pixels wide (aspect kept), grey unless ``cluster_color``; MiniBatchKMeans makes
  ``numframes2pick`` clusters and the frame nearest each cluster centre is taken
  (DLC takes a random member). A seed makes the choice reproducible. Like DLC, a cluster
  that ends up empty yields no frame, so fewer frames may come out.

The video is streamed in two passes (features, then only the chosen frames), so memory
does not grow with the video beyond one small uint8 vector per frame. PNGs are written
to a temp folder inside the labeled-data folder and moved into place when all are
written; a failure or an interrupt leaves the folder as it was. A JSON manifest
(:meth:`Project.frames_manifest`) records each extraction.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dlcflow.core.fileio import atomic_write_text
from dlcflow.core.log import log
from dlcflow.core.video import VideoError, VideoReader, video_info
from dlcflow.project.paths import Project, frame_name

ALGORITHMS = ("uniform", "kmeans")
MANIFEST_VERSION = 1
#: Rows per MiniBatchKMeans step; features are converted to float32 one batch at a time.
KMEANS_BATCH = 1024
#: Passes over the features for MiniBatchKMeans (at least KMEANS_MIN_STEPS steps).
KMEANS_EPOCHS = 10
KMEANS_MIN_STEPS = 50


# -- frame selection ------------------------------------------------------------------------
def frame_range(nframes: int, start: float, stop: float) -> tuple[int, int]:
    """First and one-past-last frame index between fractions ``start`` and ``stop`` of a
    video (DLC: ``floor(n * start)`` to ``ceil(n * stop)``)."""
    first = int(math.floor(nframes * start))
    last = min(nframes, int(math.ceil(nframes * stop)))
    return first, max(first, last)


def select_uniform(first: int, last: int, numframes: int) -> list[int]:
    """``numframes`` indices evenly spaced over ``[first, last)``, both ends included;
    every index when the range holds no more than ``numframes``."""
    if last - first <= numframes:
        return list(range(first, last))
    if numframes == 1:
        return [(first + last - 1) // 2]
    spaced = np.floor(np.linspace(first, last - 1, numframes) + 0.5).astype(np.int64)
    return [int(i) for i in spaced]


def downsample(frame: np.ndarray, width: int, color: bool = False) -> np.ndarray:
    """A frame shrunk to ``width`` pixels wide (aspect kept), grey unless ``color``,
    flattened into a uint8 vector: the k-means feature of a frame."""
    height, full_width = frame.shape[:2]
    small_h = max(1, int(round(height * width / full_width)))
    if full_width > 4 * width:
        # INTER_AREA over a large, non-integer factor costs ~1 ms a frame; a bilinear
        # step to 4x the target first keeps it ~20x cheaper with the same averaging.
        mid = (4 * width, max(1, int(round(height * 4 * width / full_width))))
        frame = cv2.resize(frame, mid, interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(frame, (width, small_h), interpolation=cv2.INTER_AREA)
    if not color and small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.reshape(-1)


def cluster_representatives(features: np.ndarray, n_clusters: int, seed: int = 0) -> list[int]:
    """Rows of ``features`` (uint8, one row per frame) nearest the centres of
    ``n_clusters`` MiniBatchKMeans clusters, one per non-empty cluster, sorted.

    Features stay uint8; each step converts one batch to float32, so the memory used
    besides the features is bounded by the batch size.
    """
    from sklearn.cluster import MiniBatchKMeans  # noqa: PLC0415 (slow import, only for kmeans)

    n = features.shape[0]
    if n <= n_clusters:
        return list(range(n))
    rng = np.random.default_rng(seed)
    batch = min(n, KMEANS_BATCH)
    model = MiniBatchKMeans(n_clusters=n_clusters, batch_size=batch, random_state=seed, n_init=1)
    # First step: k-means++ initialisation on a random sample of the whole video.
    sample = np.sort(rng.choice(n, size=min(n, 3 * batch), replace=False))
    model.partial_fit(features[sample].astype(np.float32))
    steps_per_epoch = math.ceil(n / batch)
    steps = max(KMEANS_MIN_STEPS, KMEANS_EPOCHS * steps_per_epoch)
    done = 0
    while done < steps:
        order = rng.permutation(n)
        for lo in range(0, n, batch):
            rows = np.sort(order[lo : lo + batch])
            model.partial_fit(features[rows].astype(np.float32))
            done += 1
            if done >= steps:
                break
    best_row = np.full(n_clusters, -1, dtype=np.int64)
    best_dist = np.full(n_clusters, np.inf)
    for lo in range(0, n, 4096):
        dist = model.transform(features[lo : lo + 4096].astype(np.float32))
        labels = dist.argmin(axis=1)
        own = dist[np.arange(len(labels)), labels]
        for cluster in np.unique(labels):
            members = np.flatnonzero(labels == cluster)
            j = members[own[members].argmin()]
            if own[j] < best_dist[cluster]:
                best_dist[cluster], best_row[cluster] = own[j], lo + j
    return sorted(int(r) for r in best_row if r >= 0)


def select_kmeans(
    reader: VideoReader,
    numframes: int,
    first: int,
    last: int,
    *,
    step: int = 1,
    resizewidth: int = 30,
    color: bool = False,
    seed: int = 0,
) -> list[int]:
    """Pick up to ``numframes`` frames of ``[first, last)`` that look different, by
    k-means on downsampled frames (every ``step``-th frame). One streaming pass."""
    candidates = range(first, last, step)
    if len(candidates) <= numframes:
        return list(candidates)
    width, _ = reader.frame_size
    if resizewidth < 1 or resizewidth > width:
        raise ValueError(
            f"{reader.path}: cluster_resizewidth {resizewidth} must be between 1 and the "
            f"frame width {width} (it would upsample)"
        )
    features: np.ndarray | None = None
    indices = np.empty(len(candidates), dtype=np.int64)
    count = 0
    for index, frame in reader.frames(first, last, step, progress=f"{reader.path.name} kmeans"):
        vector = downsample(frame, resizewidth, color)
        if features is None:
            features = np.empty((len(candidates), vector.size), dtype=np.uint8)
        features[count] = vector
        indices[count] = index
        count += 1
    if features is None:
        raise VideoError(f"{reader.path}: no frame between {first} and {last} could be read")
    rows = cluster_representatives(features[:count], numframes, seed)
    return [int(indices[r]) for r in rows]


# -- files -----------------------------------------------------------------------------------
def png_frames(folder: Path) -> list[Path]:
    """PNG images in a labeled-data folder, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.png") if p.is_file() and not p.name.startswith("."))


def _write_manifest(project: Project, stem: str, record: dict[str, Any]) -> None:
    record = {"version": MANIFEST_VERSION, **record}
    atomic_write_text(project.frames_manifest(stem), json.dumps(record, indent=2) + "\n")


def read_manifest(project: Project, stem: str) -> dict[str, Any] | None:
    """The frames manifest of a video, or None if there is none (or it is unreadable)."""
    path = project.frames_manifest(stem)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _video_key(project: Project, video: str) -> str:
    """A video_sets key from a key, a path to the same file, or a video stem."""
    keys = project.video_sets
    if video in keys:
        return video
    wanted = Path(video).expanduser()
    for key in keys:
        try:
            if wanted.resolve() == Path(key).resolve():
                return key
        except OSError:
            continue
    try:
        return project.video_key_for_stem(video)
    except KeyError:
        pass
    try:
        return project.video_key_for_stem(wanted.stem)
    except KeyError:
        known = ", ".join(project.video_stems()) or "none"
        raise ValueError(
            f"{project.config_path}: video {video!r} is not in video_sets (known: {known})"
        ) from None


def _stem(project: Project, key: str) -> str:
    return dict(zip(project.video_sets, project.video_stems(), strict=True))[key]


def _settings(project: Project, numframes2pick: int | None, algo: str) -> tuple[float, float, int]:
    where = project.config_path
    if algo not in ALGORITHMS:
        raise ValueError(f"algo {algo!r} is not one of {', '.join(ALGORITHMS)}")
    start, stop = float(project.cfg.get("start", 0)), float(project.cfg.get("stop", 1))
    if not 0 <= start < stop <= 1:
        raise ValueError(f"{where}: start ({start}) and stop ({stop}) need 0 <= start < stop <= 1")
    numframes = project.cfg.get("numframes2pick", 20) if numframes2pick is None else numframes2pick
    if isinstance(numframes, bool) or not isinstance(numframes, int) or numframes < 1:
        raise ValueError(f"{where}: numframes2pick must be a positive integer, got {numframes!r}")
    return start, stop, numframes


def _move_into_place(tmp: Path, folder: Path, names: Sequence[str]) -> None:
    """Move files from ``tmp`` to ``folder``; on any failure remove the ones that were new."""
    moved: list[Path] = []
    try:
        for name in names:
            target = folder / name
            if not target.exists():
                moved.append(target)
            os.replace(tmp / name, target)
    except BaseException:
        for target in moved:
            target.unlink(missing_ok=True)
        raise


def extract_video_frames(
    project: Project,
    video_key: str,
    *,
    algo: str = "kmeans",
    crop: bool = False,
    cluster_step: int = 1,
    cluster_resizewidth: int = 30,
    cluster_color: bool = False,
    force: bool = False,
    numframes2pick: int | None = None,
    seed: int = 0,
) -> list[Path]:
    """Extract the labeling frames of one video (a video_sets key, or its stem).

    Honours the config's ``start``, ``stop`` and ``numframes2pick`` (the argument
    overrides the latter); ``crop=True`` cuts the frames (and the k-means features) to the
    video's video_sets crop. A folder that already holds PNGs is left alone unless
    ``force``, which adds the new frames to it (same names are overwritten), as DLC does
    when asked to add to a folder. Writes the manifest in both cases and returns the
    PNG paths of this video: those written, or the existing ones when skipped.

    Raises VideoError (one line, naming the file) for a video that cannot be opened or
    yields no frame; frames that cannot be decoded are skipped with a warning.
    """
    key = _video_key(project, video_key)
    stem = _stem(project, key)
    start, stop, numframes = _settings(project, numframes2pick, algo)
    if cluster_step < 1:
        raise ValueError(f"cluster_step must be a positive integer, not {cluster_step}")
    folder = project.labeled_folder(stem)
    video = project.resolve_video(key)
    existing = png_frames(folder)
    if existing and not force:
        log(
            f"{stem}: {folder} already holds {len(existing)} frames; skipping "
            "(force=True extracts again)"
        )
        previous = read_manifest(project, stem) or {}
        try:
            nframes: int | None = video_info(video).nframes
        except VideoError:
            nframes = previous.get("nframes")
        _write_manifest(
            project,
            stem,
            {
                "video": str(video),
                "video_key": key,
                "nframes": nframes,
                "algo": previous.get("algo", "existing"),
                "crop": previous.get("crop"),
                "frames": [p.name for p in existing],
                "extracted": [],
                "skipped": True,
            },
        )
        return existing

    box = project.crop(key) if crop else None
    with VideoReader(video, crop=box) as reader:
        nframes = reader.nframes
        if nframes < 1:
            raise VideoError(f"{video}: video has no frames (frame count 0 in its header)")
        first, last = frame_range(nframes, start, stop)
        if algo == "uniform":
            picks = select_uniform(first, last, numframes)
        else:
            picks = select_kmeans(
                reader,
                numframes,
                first,
                last,
                step=cluster_step,
                resizewidth=cluster_resizewidth,
                color=cluster_color,
                seed=seed,
            )
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".dlcflow-frames-", dir=folder))
        try:
            names: list[str] = []
            for index, frame in reader.frames(indices=picks, progress=f"{stem} frames"):
                name = frame_name(index, nframes)
                if not cv2.imwrite(str(tmp / name), frame):
                    raise OSError(f"{folder / name}: cannot write PNG")
                names.append(name)
            if not names:
                raise VideoError(f"{video}: none of the {len(picks)} selected frames could be read")
            if len(names) < len(picks):
                warnings.warn(
                    f"{video}: {len(picks) - len(names)} of the {len(picks)} selected "
                    "frames could not be read; writing the others",
                    stacklevel=2,
                )
            _move_into_place(tmp, folder, names)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        bad = sorted(set(reader.bad_frames))
        end = reader.end
    _write_manifest(
        project,
        stem,
        {
            "video": str(video),
            "video_key": key,
            "nframes": nframes,
            "readable_frames": end,
            "algo": algo,
            "start": start,
            "stop": stop,
            "numframes2pick": numframes,
            "cluster_step": cluster_step if algo == "kmeans" else None,
            "cluster_resizewidth": cluster_resizewidth if algo == "kmeans" else None,
            "cluster_color": cluster_color if algo == "kmeans" else None,
            "seed": seed if algo == "kmeans" else None,
            "crop": list(box) if box else None,
            "frames": [p.name for p in png_frames(folder)],
            "extracted": names,
            "bad_frames": bad,
            "skipped": False,
        },
    )
    log(f"{stem}: wrote {len(names)} frames ({algo}) to {folder}")
    return [folder / name for name in names]


def extract_frames(
    config: str | os.PathLike[str],
    mode: str = "automatic",
    algo: str = "kmeans",
    crop: bool = False,
    userfeedback: bool = False,
    cluster_step: int = 1,
    cluster_resizewidth: int = 30,
    cluster_color: bool = False,
    videos_list: Iterable[str | os.PathLike[str]] | None = None,
    force: bool = False,
) -> dict[str, list[Path]]:
    """Extract labeling frames for the project's videos (``deeplabcut.extract_frames``).

    Parameters keep DLC's names. ``mode`` must be ``"automatic"`` (frames are picked by
    hand in the labeling tool, not here). ``algo``: ``"kmeans"`` or ``"uniform"``.
    ``crop=True`` uses each video's video_sets crop. ``userfeedback`` is accepted and
    ignored: extraction never asks questions; a video whose labeled-data folder already
    holds frames is skipped unless ``force``. ``videos_list`` restricts extraction to
    some videos (video_sets keys, paths or stems). The config's ``start``, ``stop`` and
    ``numframes2pick`` apply.

    Returns ``{video stem: [PNG paths]}``. Videos that fail do not stop the others; a
    VideoError naming them is raised at the end.
    """
    del userfeedback  # non-interactive by design
    if mode == "manual":
        raise ValueError(
            "mode='manual' is not available here: pick and label frames by hand in the "
            "labeling tool (dlcflow label <config.yaml>); use mode='automatic' to extract"
        )
    if mode != "automatic":
        raise ValueError(f"mode must be 'automatic', not {mode!r}")
    if not isinstance(crop, bool):
        raise ValueError(
            f"crop must be True or False, not {crop!r}; set each video's crop in video_sets"
        )
    project = Project(config)
    if videos_list is None:
        keys = list(project.video_sets)
    else:
        keys = list(dict.fromkeys(_video_key(project, str(v)) for v in videos_list))
    if not keys:
        raise ValueError(f"{project.config_path}: video_sets lists no videos")
    results: dict[str, list[Path]] = {}
    failures: list[str] = []
    for key in keys:
        try:
            results[_stem(project, key)] = extract_video_frames(
                project,
                key,
                algo=algo,
                crop=crop,
                cluster_step=cluster_step,
                cluster_resizewidth=cluster_resizewidth,
                cluster_color=cluster_color,
                force=force,
            )
        except VideoError as err:
            failures.append(str(err))
    if failures:
        more = f" (and {len(failures) - 1} more: " + "; ".join(failures[1:]) + ")"
        raise VideoError(failures[0] + (more if len(failures) > 1 else ""))
    return results
