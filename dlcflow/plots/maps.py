"""Images of a network's maps on the labeled frames (DLC's ``extract_save_all_maps``).

For every labeled frame (or the rows ``Indices``) and selected snapshot,
:func:`extract_save_all_maps` writes into ``<evaluation folder>/maps/`` (or
``dest_folder``), each file atomically, with DLC's names
(:meth:`dlcflow.project.paths.Project.map_image_name`), ``<split>`` being ``train`` or
``test``::

    <image>_scmap_<split>_<shuffle>_<fraction>_<snapshot>.png    score map over the frame
    <image>_locref_<split>_<shuffle>_<fraction>_<snapshot>.png   + location refinement arrows
    <image>_paf_<split>_<shuffle>_<fraction>_<snapshot>.png      part affinity fields (maDLC)

As in DLC, the maps of the ``comparisonbodyparts`` are summed into one score map (one body
part: its own map); the locref arrows (every 5th pixel, where that map is at least 0.5)
are the offsets in pixels; the PAF image shows the limbs that touch those body parts, one
colour each (config ``colormap``), or one image per limb (``paf_<part>_<part>``) with
``all_paf_in_one=False``. Maps are resampled onto the frame's pixels where decoding puts
them (:func:`dlcflow.inference.maps.to_image`).

Where DLC differs, on purpose: each image has the frame's size in pixels (DLC saves
matplotlib's default 640 x 480 figure with margins), and where frames of two videos drawn
in one call share a file name, each is named ``<video>_<image>`` (DLC writes both to one
file).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from tqdm import tqdm

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.inference.maps import FrameMaps, extract_maps, to_image
from dlcflow.post.evaluate import comparison_parts
from dlcflow.project.models import rebase
from dlcflow.project.paths import Project

__all__ = [
    "extract_save_all_maps",
    "locref_figure",
    "paf_figure",
    "save_frame_maps",
    "scoremap_figure",
]

DPI = 100
#: Arrows every ``STEP`` pixels (DLC's ``step``).
STEP = 5


def _frame_axes(image: np.ndarray) -> tuple[Figure, Axes]:
    """A figure of exactly the image's pixels, the image drawn on axes that fill it."""
    height, width = image.shape[:2]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(image, interpolation="nearest")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.axis("off")
    return fig, ax


def scoremap_figure(image: np.ndarray, scmap: np.ndarray) -> Figure:
    """The frame with a score map ``(H, W)`` over it (half transparent, DLC's look)."""
    fig, ax = _frame_axes(image)
    ax.imshow(scmap, alpha=0.5, interpolation="nearest")
    return fig


def locref_figure(
    image: np.ndarray, scmap: np.ndarray, locref: np.ndarray, step: int = STEP
) -> Figure:
    """The score map's figure with the location refinement ``(H, W, 2)`` (pixels) as
    arrows every ``step`` pixels where the score map is at least 0.5."""
    fig = scoremap_figure(image, scmap)
    ax = fig.axes[0]
    ys, xs = np.mgrid[0 : scmap.shape[0] : step, 0 : scmap.shape[1] : step]
    keep = scmap[ys, xs] >= 0.5
    if keep.any():
        u, v = locref[ys, xs, 0][keep], locref[ys, xs, 1][keep]
        ax.quiver(
            xs[keep], ys[keep], u, v, color="r", units="x", scale_units="xy", scale=1, angles="xy"
        )
    return fig


def paf_figure(
    image: np.ndarray,
    paf: np.ndarray,
    colors: Sequence[tuple[float, ...]] | None = None,
    step: int = STEP,
) -> Figure:
    """The frame with part affinity fields ``(H, W, L, 2)`` as arrows every ``step``
    pixels where a field is strong (``|v|^2 >= 0.125``, DLC's mask), one colour per limb;
    a unit vector is an arrow ``step`` pixels long (at any frame size; DLC's arrows are a
    fixed fraction of the figure)."""
    fig, ax = _frame_axes(image)
    ys, xs = np.mgrid[0 : paf.shape[0] : step, 0 : paf.shape[1] : step]
    for n in range(paf.shape[2]):
        u, v = paf[ys, xs, n, 0], paf[ys, xs, n, 1]
        keep = u**2 + v**2 >= 0.5 * 0.5**2
        if keep.any():
            color = colors[n] if colors is not None else "r"
            ax.quiver(
                xs[keep],
                ys[keep],
                u[keep],
                v[keep],
                units="xy",
                scale_units="xy",
                scale=1 / step,  # a unit field: an arrow as long as the grid step
                headaxislength=4,
                width=max(1.0, 0.002 * image.shape[1]),
                color=color,
                angles="xy",
            )
    return fig


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


def _image_names(frames: dict[int, FrameMaps], shared: set[str]) -> dict[int, str]:
    """Each frame's name in the map file names: its file name, or ``<video>_<image>``
    where frames of two videos share the file name."""
    names = {}
    for row, frame in frames.items():
        image = frame.imagename[-1]
        names[row] = f"{frame.imagename[-2]}_{image}" if image in shared else image
    return names


def save_frame_maps(
    frame: FrameMaps,
    parts: Sequence[str],
    name: str,
    label: tuple[int, float, str],
    folder: Path,
    extract_paf: bool = True,
    all_paf_in_one: bool = True,
    colormap: str = "rainbow",
) -> list[Path]:
    """The map images of one frame (module docstring); ``label`` is (shuffle, training
    fraction, snapshot name)."""
    shuffle, fraction, snapshot = label
    split = "train" if frame.training else "test"
    shape = frame.image.shape[:2]

    def path(kind: str) -> Path:
        return folder / Project.map_image_name(name, kind, split, shuffle, fraction, snapshot)

    chosen = [j for j, bp in enumerate(frame.bodyparts) if bp in parts] or [0]
    scmap = to_image(frame.scmap[..., chosen], shape, frame.stride).sum(axis=2)
    written = [_save(scoremap_figure(frame.image, scmap), path("scmap"))]
    if frame.locref is not None:
        locref = to_image(frame.locref[:, :, chosen], shape, frame.stride).sum(axis=2)
        written.append(_save(locref_figure(frame.image, scmap, locref), path("locref")))
    if extract_paf and frame.paf is not None:
        limbs = [n for n, (a, b) in enumerate(frame.paf_graph) if a in chosen or b in chosen]
        paf = to_image(frame.paf[:, :, limbs], shape, frame.stride)
        if all_paf_in_one:
            cmap = colormaps[colormap].resampled(max(len(limbs), 1))
            colors = [tuple(cmap(k)) for k in range(len(limbs))]
            written.append(_save(paf_figure(frame.image, paf, colors), path("paf")))
        else:
            for k, n in enumerate(limbs):
                a, b = frame.paf_graph[n]
                kind = f"paf_{frame.bodyparts[a]}_{frame.bodyparts[b]}"
                written.append(_save(paf_figure(frame.image, paf[:, :, k : k + 1]), path(kind)))
    return written


def extract_save_all_maps(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int | str = 0,
    comparisonbodyparts: str | Sequence[str] = "all",
    extract_paf: bool = True,
    all_paf_in_one: bool = True,
    gputouse: int | None = None,
    rescale: bool = False,
    Indices: Sequence[int] | None = None,  # noqa: N803 (DLC's argument name)
    modelprefix: str = "",
    dest_folder: str | os.PathLike[str] | None = None,
    *,
    threads: int | None = None,
    iteration: int | None = None,
) -> list[Path]:
    """Write the score-map, location-refinement and (multi-animal) part-affinity-field
    images of the labeled frames (module docstring); DLC's ``extract_save_all_maps``.
    Returns the files written.

    ``comparisonbodyparts`` (``"all"`` or a list) chooses the maps drawn, ``Indices`` the
    rows of the merged annotations (None: all), ``rescale`` feeds the frames resized by
    ``global_scale``; ``dest_folder`` replaces ``<evaluation folder>/maps`` (of every
    training fraction). ``threads`` and ``iteration`` as in
    :func:`dlcflow.inference.maps.extract_maps`.
    """
    project = Project(config, iteration=iteration)
    parts = comparison_parts(project, comparisonbodyparts)
    maps = extract_maps(
        config,
        shuffle,
        trainingsetindex,
        gputouse,
        rescale,
        Indices,
        modelprefix,
        threads=threads,
        iteration=iteration,
    )
    colormap = str(project.cfg.get("colormap") or "rainbow")
    written: list[Path] = []
    for fraction, snapshots in maps.items():
        folder = (
            Path(dest_folder)
            if dest_folder
            else rebase(project, project.evaluation_maps(fraction, shuffle), modelprefix)
        )
        folder.mkdir(parents=True, exist_ok=True)
        for snapshot, frames in snapshots.items():
            counts = Counter(f.imagename[-1] for f in frames.values())
            shared = {image for image, n in counts.items() if n > 1}
            names = _image_names(frames, shared)
            log(f"Saving the maps of {snapshot} ({len(frames)} images) in {folder}")
            for row, frame in tqdm(frames.items(), unit="image", leave=False):
                written += save_frame_maps(
                    frame,
                    parts,
                    names[row],
                    (shuffle, fraction, snapshot),
                    folder,
                    extract_paf,
                    all_paf_in_one,
                    colormap,
                )
    return written
