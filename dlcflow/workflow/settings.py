"""What the Snakemake rules ask of a project: target files per stage and their inputs.

rules/common.smk calls these from its input functions; keeping them here keeps the
logic typed and unit-tested, and the .smk files declarative.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcflow.core.videofiles import list_videos
from dlcflow.inference.analyze import AnalysisOptions
from dlcflow.io.labels import read_annotations
from dlcflow.plots.detections import full_video_output, tracklets_video_output
from dlcflow.plots.individuals import config_individuals
from dlcflow.plots.poses import LabeledVideoOptions
from dlcflow.post.filters import FilterOptions
from dlcflow.post.kinematics import KinematicsOptions
from dlcflow.post.outliers import OutlierOptions
from dlcflow.post.rawoutliers import RAW_OUTLIER_DEFAULTS
from dlcflow.project.models import training_fraction
from dlcflow.project.paths import Project, list_snapshots, tracker_suffix
from dlcflow.training.comparison import ComparisonEntry, comparison_entries

STAGES = ("frames", "check_labels", "dataset", "train", "evaluate", "maps", "analyze")
# Videos dlcflow writes itself (labeled videos), never analyzed, as in DLC.
POSTPROCESS = (
    "filter",
    "plots",
    "labeled_videos",
    "skeleton",
    "outliers",
    "kinematics",
    "nwb",
    "reid",
    "detection_videos",
    "tracklet_videos",
    "outliers_raw",
)


class MissingLabelsError(RuntimeError):
    """A labeled-data folder holds frames but no CollectedData (one line, says what to run)."""


def has_frames(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.png"))


def label_command(project: Project) -> str:
    return f"dlcflow label {project.config_path}"


def annotated_stems(
    project: Project, oracle: bool = False, iteration: int | None = None, strict: bool = False
) -> list[str]:
    """labeled-data folders the dataset of ``iteration`` (default: the current one) is
    built from.

    With ``oracle`` (the demo) every video_sets video is labeled by a rule, so all of them
    count. Otherwise these are the folders that hold CollectedData, as DLC does: a folder
    with frames but no CollectedData is skipped with a warning that names it and the
    command that labels it (``strict``: it stops the workflow instead). Outlier frames
    merged into this iteration must be labeled: such a folder always stops it. Folders
    that got outlier frames of this iteration and were not part of its dataset wait for
    the next iteration (after `dlcflow merge`): they are left out, so extracting outliers
    never changes, or blocks, the iteration they came from.
    """
    it = project.iteration if iteration is None else iteration
    built = set(dataset_stems(project, it) or ())
    waiting = {s for s in refinement_stems(project, it) if s not in built}
    if oracle:
        return [s for s in project.video_stems() if s not in waiting]
    merged = set(refinement_stems(project, it - 1)) if it > 0 else set()
    stems, unlabeled = [], []
    for folder in project.labeled_folders():
        if folder.name in waiting:
            continue
        if project.existing_collected_data(folder.name) is not None:
            stems.append(folder.name)
        elif has_frames(folder):
            unlabeled.append(folder.name)
    stopping = [s for s in unlabeled if strict or s in merged]
    if stopping:
        raise MissingLabelsError(
            f"{_unlabeled(project, stopping[0])}"
            + (f" (and {len(stopping) - 1} more folders)" if len(stopping) > 1 else "")
            + f": label them with `{label_command(project)}`"
        )
    for stem in unlabeled:
        warnings.warn(
            f"{_unlabeled(project, stem)}: left out of the training dataset; label it "
            f"with `{label_command(project)}` (dataset.strict: true stops instead)",
            stacklevel=2,
        )
    if not stems:
        raise MissingLabelsError(
            f"{project.config_path}: no labeled frames yet: run `snakemake frames`, then "
            f"`{label_command(project)}`"
        )
    return stems


def _unlabeled(project: Project, stem: str) -> str:
    return f"labeled-data/{stem} has frames but no {project.collected_data(stem).name}"


def refinement_stems(project: Project, iteration: int) -> list[str]:
    """Folders holding outlier frames extracted from the models of ``iteration``."""
    return [
        folder.name
        for folder in project.labeled_folders()
        if project.outliers_record(folder.name, iteration).is_file()
        or project.raw_outliers_record(folder.name, iteration).is_file()
        or project.machine_labels(folder.name, iteration).is_file()
    ]


def dataset_stems(project: Project, iteration: int) -> list[str] | None:
    """The folders the dataset of ``iteration`` was built from (read from its merged
    CollectedData copy); None before that dataset exists."""
    merged = project.training_collected_data(iteration=iteration)
    if not merged.is_file():
        return None
    return sorted({str(row[1]) for row in read_annotations(merged).index})


def frames_input(project: Project, stem: str) -> list[str]:
    """The video a frames job reads. None when the video is gone but its folder holds
    frames already (a DLC project copied without its videos still lists its frames)."""
    video = project.resolve_video(project.video_key_for_stem(stem))
    if not video.exists() and has_frames(project.labeled_folder(stem)):
        return []
    return [str(video)]


def labels_inputs(
    project: Project, oracle: bool = False, iteration: int | None = None, strict: bool = False
) -> list[str]:
    """Annotation files a training dataset is built from. For an iteration before the
    project's current one, the folders its dataset was built from, so later refinement
    does not rebuild finished iterations."""
    it = project.iteration if iteration is None else iteration
    built = dataset_stems(project, it) if it < project.iteration else None
    stems = built if built is not None else annotated_stems(project, oracle, it, strict)
    # the file a folder holds (DLC accepts a csv alone); the h5 that a rule will write else
    return [str(project.existing_collected_data(s) or project.collected_data(s)) for s in stems]


@dataclass(frozen=True)
class TrackingSettings:
    """The workflow's ``tracking`` section (multi-animal projects)."""

    track_method: str = ""  # empty: the project's default_track_method
    n_tracks: int = 0  # 0: one per individual
    calibrate: bool = False
    identity_only: bool = False
    min_length: int = 10
    max_gap: int = 0  # 0: from the data

    def method(self, project: Project) -> str:
        """The tracker: the setting, else the project's ``default_track_method``."""
        return self.track_method or str(project.cfg.get("default_track_method") or "ellipse")

    def stitch_overrides(self) -> dict[str, Any]:
        """The stitching settings that differ from DLC's defaults (keyword arguments)."""
        out: dict[str, Any] = {"min_length": self.min_length}
        if self.max_gap:
            out["max_gap"] = self.max_gap
        return out


@dataclass(frozen=True)
class Settings:
    """The workflow settings that apply to one project (the demo has its own)."""

    shuffles: tuple[int, ...]
    net_type: str
    augmenter_type: str
    init_weights: str
    pose_cfg: dict[str, Any]
    test_pose_cfg: dict[str, Any]
    maxiters: int
    saveiters: int
    displayiters: int
    max_snapshots_to_keep: int
    videos: tuple[str, ...]
    analysis_shuffle: int
    trainingsetindex: int
    destfolder: str
    plotting: bool
    oracle: bool
    strict_labels: bool = False  # dataset.strict: unlabeled folders stop the dataset
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)  # save_as_csv, engine
    filter: FilterOptions = field(default_factory=FilterOptions)
    kinematics: KinematicsOptions = field(default_factory=KinematicsOptions)
    plots: dict[str, Any] = field(default_factory=dict)
    labeled_videos: LabeledVideoOptions = field(default_factory=LabeledVideoOptions)
    labeled_videos_filtered: bool = False  # labeled_videos.filtered: draw the _filtered poses
    outliers: OutlierOptions = field(default_factory=OutlierOptions)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    nwb: dict[str, Any] = field(default_factory=dict)  # nwb.metadata (YAML path), nwb.filtered
    # outliers_raw: source (assemblies | detections) + find_outliers_in_raw_data's arguments
    outliers_raw: dict[str, Any] = field(default_factory=lambda: dict(RAW_OUTLIER_DEFAULTS))

    @property
    def save_as_csv(self) -> bool:
        """analyze.save_as_csv (a csv beside each pose file)."""
        return self.analysis.save_as_csv

    @property
    def calibrate(self) -> bool:
        """tracking.calibrate (calibrated assembly, in analysis and evaluation)."""
        return self.tracking.calibrate

    @property
    def engine(self) -> str:
        """analyze.engine: auto | tensorflow | onnx."""
        return str(self.analysis.engine)

    def net(self, project: Project) -> str:
        """The network of new datasets: the setting, else the project's default."""
        return self.net_type or str(project.cfg.get("default_net_type") or "resnet_50")


def settings(config: dict[str, Any], demo: str = "", refined: bool = False) -> Settings:
    """Workflow config -> :class:`Settings`; for a demo (``demo``: its config section,
    ``demo`` or ``demo_multianimal``) that section's keys win, and for its refined
    iterations (1, 2, ...) the section's ``refined`` keys win over those (its ``pose_cfg``
    and ``test_pose_cfg`` keys over the demo's)."""
    train, analyze = config["train"], config["analyze"]
    over: dict[str, Any] = {}
    if demo:
        section = config[demo]
        finer = (section.get("refined") or {}) if refined else {}
        over = {**section, **finer}
        for key in ("pose_cfg", "test_pose_cfg"):
            over[key] = {**(section.get(key) or {}), **(finer.get(key) or {})}
    return Settings(
        shuffles=tuple(int(s) for s in config["shuffles"]),
        net_type=str(over.get("net_type", config["net_type"])),
        augmenter_type=str(config["augmenter_type"]),
        init_weights=str(over.get("init_weights", config["init_weights"])),
        pose_cfg=dict(over.get("pose_cfg", config["pose_cfg"]) or {}),
        test_pose_cfg=dict(over.get("test_pose_cfg", config.get("test_pose_cfg")) or {}),
        maxiters=int(over.get("maxiters", train["maxiters"])),
        saveiters=int(over.get("saveiters", train["saveiters"])),
        displayiters=int(train["displayiters"]),
        max_snapshots_to_keep=int(train["max_snapshots_to_keep"]),
        videos=() if demo else tuple(_as_list(config["videos"])),
        analysis_shuffle=int(analyze["shuffle"] or config["shuffles"][0]),
        trainingsetindex=int(analyze["trainingsetindex"]),
        destfolder="" if demo else str(analyze["destfolder"]),
        plotting=bool(config["evaluate"]["plotting"]),
        oracle=bool(demo),
        strict_labels=bool(config["dataset"]["strict"]),
        analysis=AnalysisOptions.from_config(analyze),
        filter=FilterOptions.from_config(config["filter"]),
        kinematics=KinematicsOptions.from_config(config["kinematics"]),
        plots=dict(config["plots"]),
        labeled_videos=LabeledVideoOptions.from_config(config["labeled_videos"]),
        labeled_videos_filtered=bool(config["labeled_videos"].get("filtered", False)),
        outliers=OutlierOptions.from_config(
            {**config["outliers"], **_pick(over, "outlieralgorithm")}
        ),
        tracking=TrackingSettings(**{**config["tracking"], **dict(over.get("tracking") or {})}),
        nwb=dict(config.get("nwb") or {}),
        outliers_raw={**RAW_OUTLIER_DEFAULTS, **dict(config.get("outliers_raw") or {})},
    )


def snapshot_input(init_weights: str) -> list[str]:
    """The ``.index`` file of a snapshot used as ``init_weights`` (so the rule waits for
    it); nothing for ``imagenet``, ``none`` or a weights file."""
    path = Path(init_weights)
    if path.name.startswith("snapshot-") and not path.suffix:
        return [str(path.with_name(path.name + ".index"))]
    return []


def _pick(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: mapping[k] for k in keys if k in mapping}


def init_weights_for(
    project: Project, st: Settings, previous: Settings, model: str, iteration: int
) -> str:
    """``init_weights`` of a new dataset; ``previous`` means the last snapshot of the same
    model folder in the iteration before (a refined model starts from the last one)."""
    if st.init_weights != "previous":
        return st.init_weights
    if iteration < 1:
        raise ValueError(
            f"{project.config_path}: init_weights 'previous' needs an earlier iteration; "
            "iteration 0 has none"
        )
    fraction, shuffle = project.parse_model_name(model)
    return str(project.snapshot_prefix(fraction, shuffle, previous.maxiters, iteration - 1))


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def analysis_videos(project: Project, videos: Sequence[str] = ()) -> list[Path]:
    """Videos to analyze (absolute): files, folders or glob patterns; none given = every
    video in the project's ``videos/`` folder. A listed file that is missing stays in the
    list, so that Snakemake names the missing input."""
    found = list_videos(list(videos) or [project.root / "videos"], missing="keep")
    return list(dict.fromkeys(p.absolute() for p in found))


def final_snapshot_index(
    project: Project, fraction: float, shuffle: int, maxiters: int, iteration: int | None = None
) -> Path:
    """``train/snapshot-<maxiters>.index``: the file that says training is done."""
    prefix = project.snapshot_prefix(fraction, shuffle, maxiters, iteration)
    return prefix.with_name(prefix.name + ".index")


def snapshot_iterations(st: Settings) -> set[int]:
    """The iterations at which training with ``st`` saves a snapshot."""
    return {*range(st.saveiters, st.maxiters + 1, max(st.saveiters, 1)), st.maxiters}


def check_refined(first: Settings, refined: Settings, demo: str = "demo") -> None:
    """ValueError when the refined iterations' final snapshot has the training iterations
    of a snapshot of the first one: their analyses would get the same file names (DLC's
    scorer names a model by shuffle and training iterations only)."""
    if refined.maxiters in snapshot_iterations(first):
        raise ValueError(
            f"config {demo}.refined.maxiters {refined.maxiters} is also a snapshot of the demo's "
            f"first iteration (maxiters {first.maxiters}, saveiters {first.saveiters}): the two "
            "models' analyses would have the same file names; choose another value"
        )


def stage_targets(
    project: Project, stage: str, st: Settings, iteration: int | None = None
) -> list[str]:
    """Files that stand for a finished stage of ``project`` (at ``iteration``, by default
    the project's current one; frames, labels and analysis have no iteration)."""
    it = iteration
    nets = model_nets(project, st, it)
    models = list(nets)
    if stage == "frames":
        return [str(project.frames_manifest(s)) for s in project.video_stems()]
    if stage == "check_labels":
        return [
            str(project.check_labels_folder(s))
            for s in annotated_stems(project, st.oracle, strict=st.strict_labels)
        ]
    if stage == "dataset":
        kinds = ("train", "test")
        return [str(project.pose_cfg(f, s, kind, it)) for f, s in models for kind in kinds]
    if stage == "train":
        return [str(final_snapshot_index(project, f, s, st.maxiters, it)) for f, s in models]
    if stage == "evaluate":
        results = [
            str(project.evaluation_results(f, s, project.scorer_name(s, net, st.maxiters), it))
            for (f, s), net in nets.items()
        ]
        if comparison_entries(project, it):
            results.append(str(project.model_comparison_table(it)))
        return results
    if stage == "maps":
        return [str(project.evaluation_maps(f, s, it)) for f, s in models]
    if project.multianimal and stage == "analyze":
        return [str(tracks) for _, tracks in analyses(project, st)]
    if stage == "analyze":
        return [str(h5) for _, h5 in analyses(project, st)]
    if stage == "filter":
        return [str(project.derived_output(h5, "_filtered.h5")) for _, h5 in analyses(project, st)]
    if stage == "skeleton":
        return [str(project.derived_output(h5, "_skeleton.h5")) for _, h5 in analyses(project, st)]
    if stage == "labeled_videos":
        drawn = ("_filtered" if st.labeled_videos_filtered else "") + ".h5"
        by = st.labeled_videos.color_by
        return [
            str(project.labeled_video_output(project.derived_output(h5, drawn), by))
            for _, h5 in analyses(project, st)
        ]
    if stage == "plots":
        name = "trajectory" + ("_filtered" if st.plots.get("filtered") else "")
        return [
            str(project.plot_poses_folder(v, st.destfolder or None) / f"{name}{individual}.png")
            for v, _ in analyses(project, st)
            for individual in plotted_individuals(project)
        ]
    if stage == "nwb":
        exported = ("_filtered" if st.nwb.get("filtered") else "") + ".h5"
        return [
            str(project.nwb_output(project.derived_output(h5, exported)))
            for _, h5 in analyses(project, st)
        ]
    if stage == "reid":
        if not project.multianimal:
            raise ValueError(
                f"{project.config_path}: re-identification (reid) is for multi-animal projects"
            )
        return [str(project.derived_output(h5, "_tr.h5")) for _, h5 in analyses(project, st)]
    if stage in ("detection_videos", "tracklet_videos"):
        return [
            str(diagnostic_video(project, st, stage, *s)) for s in diagnostic_sources(project, st)
        ]
    if stage == "outliers":
        return [str(project.outliers_record(v.stem, it)) for v, _ in analyses(project, st)]
    if stage == "outliers_raw":
        if not project.multianimal:
            raise ValueError(
                f"{project.config_path}: outliers_raw (outlier frames from the _full.pickle "
                "or _assemblies.pickle) is for multi-animal projects; use outliers"
            )
        return [str(project.raw_outliers_record(v.stem, it)) for v, _ in analyses(project, st)]
    if stage == "kinematics":
        plots = [
            str(project.kinematics_plot(pose, kind))
            for pose in kinematics_inputs(project, st)
            for kind in ("speed", "occupancy")
        ]
        return [str(project.kinematics_summary(project.root)), *plots]
    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES + POSTPROCESS)}")


def model_nets(
    project: Project, st: Settings, iteration: int | None = None
) -> dict[tuple[float, int], str]:
    """The network of each (training fraction, shuffle) the workflow trains: the
    settings' shuffles at every ``TrainingFraction`` with the settings' network, and the
    shuffles of the iteration's model comparison (``training_model_comparison.log``)
    with their own."""
    net = st.net(project)
    nets = {(f, s): net for f in project.training_fractions for s in st.shuffles}
    for entry in comparison_entries(project, iteration):
        nets[training_fraction(project, entry.trainsetindex), entry.shuffle] = entry.net_type
    return nets


def comparison_model(project: Project, model: str, iteration: int) -> ComparisonEntry | None:
    """The comparison entry of a model folder name; None for the settings' models."""
    fraction, shuffle = project.parse_model_name(model)
    for entry in comparison_entries(project, iteration):
        if entry.shuffle == shuffle and training_fraction(project, entry.trainsetindex) == fraction:
            return entry
    return None


def check_rebuildable(project: Project, model: str, iteration: int) -> None:
    """ValueError for a model comparison's shuffle: its split is the comparison's, so
    only ``create_training_model_comparison`` makes its dataset."""
    entry = comparison_model(project, model, iteration)
    if entry is not None:
        raise ValueError(
            f"{project.pose_cfg(*project.parse_model_name(model), 'train', iteration)}: "
            f"shuffle {entry.shuffle} of a model comparison ({project.model_comparison_log()}) "
            "is missing; make it again with create_training_model_comparison"
        )


def comparison_results(project: Project, st: Settings, iteration: int) -> list[str]:
    """The evaluation results of the compared shuffles, which their table is made from."""
    return [
        str(
            project.evaluation_results(
                training_fraction(project, e.trainsetindex),
                e.shuffle,
                project.scorer_name(e.shuffle, e.net_type, st.maxiters),
                iteration,
            )
        )
        for e in comparison_entries(project, iteration)
    ]


def kinematics_inputs(project: Project, st: Settings) -> list[Path]:
    """The pose file of each video the ``kinematics`` target reads (``_filtered`` with
    ``kinematics.filtered``; a multi-animal project's tracks)."""
    filtered = "_filtered" if st.kinematics.filtered else ""
    return [project.derived_output(h5, f"{filtered}.h5") for _, h5 in analyses(project, st)]


def kinematics_files(project: Project, st: Settings) -> list[str]:
    """The ``_kinematics.h5`` files the project's ``kinematics-summary.csv`` sums up."""
    return [str(project.kinematics_output(pose)) for pose in kinematics_inputs(project, st)]


def plotted_individuals(project: Project) -> list[str]:
    """The individuals of the ``plots`` target's files (DLC appends the individual to
    each plot's name in a multi-animal project): the config's individuals, then
    ``single`` when there are unique body parts; ``[""]`` in a single-animal project."""
    return config_individuals(project) if project.multianimal else [""]


def analyses(project: Project, st: Settings) -> list[tuple[Path, Path]]:
    """(video, pose file) of every video to analyze, with the model of ``st``; the pose
    file of a multi-animal project is its stitched tracks (``_el.h5`` and the like)."""
    fraction = training_fraction(project, st.trainingsetindex)
    net = model_nets(project, st).get((fraction, st.analysis_shuffle), st.net(project))
    scorer = project.scorer_name(st.analysis_shuffle, net, st.maxiters)
    dest = st.destfolder or None
    if project.multianimal:
        method = st.tracking.method(project)
        return [
            (v, project.tracks_output(v, scorer, method, dest))
            for v in analysis_videos(project, st.videos)
        ]
    return [
        (v, project.analysis_output(v, scorer, dest)) for v in analysis_videos(project, st.videos)
    ]


def pose_file(project: Project, st: Settings, stem: str, filtered: str = "") -> str:
    """The (``_filtered``) pose file of the analyzed video ``stem``."""
    for video, h5 in analyses(project, st):
        if video.stem == stem:
            return str(project.derived_output(h5, f"{filtered}.h5"))
    raise ValueError(f"{stem}: not one of the videos to analyze of {project.config_path}")


def outlier_inputs(project: Project, st: Settings, stem: str) -> dict[str, str]:
    """The video and pose file an outlier extraction of ``stem`` reads."""
    for video, h5 in analyses(project, st):
        if video.stem == stem:
            return {"video": str(video), "poses": str(h5)}
    raise ValueError(f"{stem}: not one of the videos to analyze of {project.config_path}")


def parse_scorer(scorer: str) -> tuple[int, int]:
    """(shuffle, training iterations) of ``DLC_<net>_<Task><date>shuffle<n>_<iterations>``."""
    match = re.search(r"shuffle(\d+)_(\d+)$", scorer)
    if not match:
        raise ValueError(f"{scorer!r} is not a DLC scorer name")
    return int(match.group(1)), int(match.group(2))


def analysis_inputs(project: Project, st: Settings, folder: str, stem: str, scorer: str) -> dict:
    """The video and the snapshot an analysis output ``<folder>/<stem><scorer>.h5`` needs.

    The snapshot is that of the newest iteration that has one with the scorer's training
    iterations (the current iteration if none has it yet), so an analysis made by an
    earlier iteration's model stays valid after ``dlcflow merge``."""
    shuffle, iterations = parse_scorer(scorer)
    fraction = training_fraction(project, st.trainingsetindex)
    snapshot = final_snapshot_index(project, fraction, shuffle, iterations)
    for it in range(project.iteration, -1, -1):
        candidate = final_snapshot_index(project, fraction, shuffle, iterations, it)
        if candidate.is_file():
            snapshot = candidate
            break
    for video in analysis_videos(project, st.videos):
        out = project.analysis_output(video, scorer, st.destfolder or None)
        if out.parent == Path(folder) and video.stem == stem:
            return {"video": str(video), "snapshot": str(snapshot)}
    raise ValueError(f"{folder}/{stem}: not one of the videos to analyze of {project.config_path}")


def declared_snapshot(snapshot_index: str | os.PathLike[str]) -> tuple[int, int]:
    """(model iteration, snapshot index) of the snapshot a rule declares as its input
    (``.../dlc-models/iteration-<i>/<model>/train/snapshot-<n>.index``): what the rule's
    script passes on, so that it uses that snapshot and not the config's current one."""
    prefix = Path(snapshot_index).with_suffix("")
    iteration = next(
        int(part[len("iteration-") :]) for part in prefix.parts if part.startswith("iteration-")
    )
    names = [s.name for s in list_snapshots(prefix.parent)]
    if prefix.name not in names:
        raise FileNotFoundError(f"{snapshot_index}: snapshot not found")
    return iteration, names.index(prefix.name)


# -- multi-animal diagnostic videos (detection_videos, tracklet_videos) ----------------------
def diagnostic_sources(project: Project, st: Settings) -> list[tuple[Path, Path, Path]]:
    """(video, ``_full.pickle``, tracklets ``_el.pickle`` of the tracking settings' tracker)
    of every video to analyze; ValueError (one line) in a single-animal project."""
    if not project.multianimal:
        raise ValueError(
            f"{project.config_path}: detection and tracklet videos are for multi-animal projects"
        )
    tracker = tracker_suffix(st.tracking.method(project))
    out = []
    for video, tracks in analyses(project, st):
        base = tracks.name[: -len(tracker + ".h5")]
        out.append((video, tracks.with_name(base + "_full.pickle"), tracks.with_suffix(".pickle")))
    return out


def diagnostic_video(
    project: Project, st: Settings, stage: str, video: Path, full: Path, tracklets: Path
) -> Path:
    """The video of ``stage``: ``<stem><scorer>_full.mp4`` beside the detections, or DLC's
    ``<tracklets folder>/<stem>/<stem>DLClabeled<ext>`` of the tracklets."""
    if stage == "detection_videos":
        return full_video_output(full)
    return tracklets_video_output(video, tracklets.parent / video.stem)
