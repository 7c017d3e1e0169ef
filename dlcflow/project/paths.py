"""A DLC project (:class:`Project`: its config.yaml and every artifact path) and DLC's names.

This is the one module that knows DeepLabCut's file names. Everything else asks a
:class:`Project` for a path instead of building one by hand.
"""

from __future__ import annotations

import math
import os
from glob import escape as glob_escape
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from dlcflow.project.config import parse_crop, read_config

#: DLC's file-name suffix of each multi-animal tracker (``_el.pickle``, ``_el.h5``, ...).
TRACKER_SUFFIXES = {"ellipse": "_el", "box": "_bx", "skeleton": "_sk"}

#: dlcflow's name of a video's ground-truth poses beside it, ``<stem>_groundtruth.h5``
#: (the synthetic demos write one; scoring tracks looks for it by default).
GROUNDTRUTH_SUFFIX = "_groundtruth.h5"

#: An optional folder argument (destfolder).
_Dir = str | os.PathLike[str] | None

__all__ = [
    "GROUNDTRUTH_SUFFIX",
    "TRACKER_SUFFIXES",
    "Project",
    "tracker_suffix",
    "refined_tracklets_path",
    "frame_name",
    "pct",
]


def net_abbreviation(net_type: str) -> str:
    """DLC's short network name used in scorer names."""
    if net_type.startswith("resnet"):
        return net_type.replace("_", "")
    if net_type.startswith("mobilenet"):
        return f"mobnet_{int(round(float(net_type.split('_')[-1]) * 100))}"
    if net_type.startswith("efficientnet"):
        return f"effnet_{net_type.split('-')[1]}"
    if net_type.startswith("dlcrnet"):
        return "dlcrnetms5"
    raise ValueError(f"unknown net_type {net_type!r}")


def pct(fraction: float) -> int:
    """``int(100 * fraction)``: DLC's truncation (0.29 gives 28)."""
    return int(100 * fraction)


class Project:
    """A DLC project: its validated config and every path inside it.

    ``iteration`` overrides the config's ``iteration`` for this object (the paths of an
    earlier iteration's model, e.g. to evaluate it again); the config file is not changed.
    """

    def __init__(self, config: str | os.PathLike[str], iteration: int | None = None):
        path = Path(config).expanduser()
        if path.is_dir():
            path = path / "config.yaml"
        self.cfg: CommentedMap = read_config(path)
        self.config_path: Path = path.resolve()
        self.root: Path = self.config_path.parent
        self._iteration = iteration

    def __repr__(self) -> str:
        return f"Project({str(self.config_path)!r})"

    # -- config facts -------------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.cfg["Task"])

    @property
    def scorer(self) -> str:
        return str(self.cfg["scorer"])

    @property
    def date(self) -> str:
        return str(self.cfg["date"])

    @property
    def iteration(self) -> int:
        return int(self.cfg["iteration"]) if self._iteration is None else int(self._iteration)

    @property
    def multianimal(self) -> bool:
        return bool(self.cfg.get("multianimalproject"))

    @property
    def individuals(self) -> list[str]:
        return list(self.cfg.get("individuals") or []) if self.multianimal else []

    @property
    def multianimal_bodyparts(self) -> list[str]:
        return list(self.cfg.get("multianimalbodyparts") or []) if self.multianimal else []

    @property
    def unique_bodyparts(self) -> list[str]:
        return list(self.cfg.get("uniquebodyparts") or []) if self.multianimal else []

    @property
    def bodyparts(self) -> list[str]:
        """All body parts in config order (multi animal: animal parts, then unique parts)."""
        if self.multianimal:
            return self.multianimal_bodyparts + self.unique_bodyparts
        return list(self.cfg["bodyparts"])

    @property
    def pcutoff(self) -> float:
        """The config's ``pcutoff`` (DLC's default 0.6 when it has none)."""
        value = self.cfg.get("pcutoff")
        return 0.6 if value is None else float(value)

    @property
    def training_fractions(self) -> list[float]:
        return [float(f) for f in self.cfg["TrainingFraction"]]

    @property
    def video_sets(self) -> dict[str, dict[str, str]]:
        return {str(k): dict(v) for k, v in (self.cfg.get("video_sets") or {}).items()}

    def crop(self, video_key: str) -> tuple[int, int, int, int]:
        return parse_crop(self.video_sets[video_key]["crop"])

    # -- videos -------------------------------------------------------------------------
    def resolve_video(self, video_key: str) -> Path:
        """The video file of a video_sets entry: the listed path if it exists, else
        ``videos/<name>`` inside the project (a moved project)."""
        listed = Path(video_key)
        if listed.exists():
            return listed
        local = self.root / "videos" / _basename(video_key)
        return local if local.exists() else listed

    def video_stems(self) -> list[str]:
        """Stems of video_sets videos = their labeled-data folder names."""
        return [Path(_basename(k)).stem for k in self.video_sets]

    def video_key_for_stem(self, stem: str) -> str:
        for key in self.video_sets:
            if Path(_basename(key)).stem == stem:
                return key
        raise KeyError(f"{self.config_path}: no video named {stem!r} in video_sets")

    # -- labeled data -------------------------------------------------------------------
    @property
    def labeled_data_dir(self) -> Path:
        return self.root / "labeled-data"

    def labeled_folder(self, stem: str) -> Path:
        return self.labeled_data_dir / stem

    def collected_data(self, stem: str, ext: str = "h5", scorer: str | None = None) -> Path:
        return self.labeled_folder(stem) / f"CollectedData_{scorer or self.scorer}.{ext}"

    def existing_collected_data(self, stem: str) -> Path | None:
        """The labels file of a folder that is there: the h5, else the csv, else None."""
        for ext in ("h5", "csv"):
            path = self.collected_data(stem, ext)
            if path.is_file():
                return path
        return None

    def check_labels_folder(self, stem: str) -> Path:
        return self.labeled_data_dir / f"{stem}_labeled"

    def frames_manifest(self, stem: str) -> Path:
        """dlcflow's record of a frame extraction (the `frames` rule's output)."""
        return self.labeled_folder(stem) / ".dlcflow-frames.json"

    def machine_labels(self, stem: str, iteration: int | None = None, ext: str = "h5") -> Path:
        it = self.iteration if iteration is None else iteration
        if ext == "csv":
            return self.labeled_folder(stem) / "machinelabels.csv"
        return self.labeled_folder(stem) / f"machinelabels-iter{it}.h5"

    def outliers_record(self, stem: str, iteration: int | None = None) -> Path:
        """dlcflow's record of an outlier extraction (the ``outliers`` rule's output)."""
        it = self.iteration if iteration is None else iteration
        return self.labeled_folder(stem) / f".dlcflow-outliers-iter{it}.json"

    def raw_outliers_record(self, stem: str, iteration: int | None = None) -> Path:
        """dlcflow's record of an outlier extraction from a video's raw multi-animal data
        (``find_outliers_in_raw_data``; the ``outliers_raw`` rule's output)."""
        it = self.iteration if iteration is None else iteration
        return self.labeled_folder(stem) / f".dlcflow-raw-outliers-iter{it}.json"

    def labeled_folders(self) -> list[Path]:
        """Every labeled-data/<video> folder (check_labels' `_labeled` folders excluded)."""
        if not self.labeled_data_dir.is_dir():
            return []
        return sorted(
            p
            for p in self.labeled_data_dir.iterdir()
            if p.is_dir() and not p.name.endswith("_labeled") and not p.name.startswith(".")
        )

    # -- training datasets --------------------------------------------------------------
    def training_set_folder(self, iteration: int | None = None) -> Path:
        it = self.iteration if iteration is None else iteration
        return (
            self.root
            / "training-datasets"
            / f"iteration-{it}"
            / f"UnaugmentedDataSet_{self.task}{self.date}"
        )

    def dataset_file(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        ext = "pickle" if self.multianimal else "mat"
        name = f"{self.task}_{self.scorer}{pct(fraction)}shuffle{shuffle}.{ext}"
        return self.training_set_folder(iteration) / name

    def documentation_file(
        self, fraction: float, shuffle: int, iteration: int | None = None
    ) -> Path:
        name = f"Documentation_data-{self.task}_{pct(fraction)}shuffle{shuffle}.pickle"
        return self.training_set_folder(iteration) / name

    def training_collected_data(self, ext: str = "h5", iteration: int | None = None) -> Path:
        """The merged ``CollectedData_<scorer>`` copy inside the training-set folder."""
        return self.training_set_folder(iteration) / f"CollectedData_{self.scorer}.{ext}"

    # -- models and evaluation ----------------------------------------------------------
    def model_name(self, fraction: float, shuffle: int) -> str:
        return f"{self.task}{self.date}-trainset{pct(fraction)}shuffle{shuffle}"

    def model_folder(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        """``dlc-models/iteration-<i>/<model>`` (DLC's ``modelprefix`` sub-folder:
        :func:`dlcflow.project.models.rebase`)."""
        it = self.iteration if iteration is None else iteration
        return self.root / "dlc-models" / f"iteration-{it}" / self.model_name(fraction, shuffle)

    def pose_cfg(
        self, fraction: float, shuffle: int, kind: str = "train", iteration: int | None = None
    ) -> Path:
        if kind not in ("train", "test"):
            raise ValueError(f"kind must be 'train' or 'test', not {kind!r}")
        return self.model_folder(fraction, shuffle, iteration) / kind / "pose_cfg.yaml"

    def inference_cfg(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        """``test/inference_cfg.yaml`` of a multi-animal model."""
        return self.model_folder(fraction, shuffle, iteration) / "test" / "inference_cfg.yaml"

    def evaluation_folder(
        self, fraction: float, shuffle: int, iteration: int | None = None
    ) -> Path:
        it = self.iteration if iteration is None else iteration
        prefix = str(self.cfg.get("eval_prefix") or "evaluation-results")
        return self.root / prefix / f"iteration-{it}" / self.model_name(fraction, shuffle)

    def evaluation_results(
        self, fraction: float, shuffle: int, scorer: str, iteration: int | None = None
    ) -> Path:
        """``<scorer>-results.csv`` (one row per evaluated snapshot, appended)."""
        return self.evaluation_folder(fraction, shuffle, iteration) / f"{scorer}-results.csv"

    def evaluation_keypoint_results(
        self, fraction: float, shuffle: int, scorer: str, iteration: int | None = None
    ) -> Path:
        """``<scorer>-keypoint-results.csv``: per body part train/test errors (DLC's
        ``per_keypoint_evaluation`` file)."""
        folder = self.evaluation_folder(fraction, shuffle, iteration)
        return folder / f"{scorer}-keypoint-results.csv"

    def evaluation_predictions(
        self,
        fraction: float,
        shuffle: int,
        scorer: str,
        training_iterations: int,
        iteration: int | None = None,
    ) -> Path:
        """Predictions on the labeled images: ``<scorer>-snapshot-<it>.h5``."""
        folder = self.evaluation_folder(fraction, shuffle, iteration)
        return folder / f"{scorer}-snapshot-{training_iterations}.h5"

    def evaluation_images(
        self,
        fraction: float,
        shuffle: int,
        scorer: str,
        training_iterations: int,
        iteration: int | None = None,
    ) -> Path:
        """Folder of evaluation plots ``LabeledImages_<scorer>_snapshot-<it>/``."""
        folder = self.evaluation_folder(fraction, shuffle, iteration)
        return folder / f"LabeledImages_{scorer}_snapshot-{training_iterations}"

    def evaluation_maps(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        """``maps/`` in the evaluation folder: score maps, location refinement and part
        affinity fields of the labeled frames (DLC's ``extract_save_all_maps``)."""
        return self.evaluation_folder(fraction, shuffle, iteration) / "maps"

    @staticmethod
    def map_image_name(
        image: str, kind: str, split: str, shuffle: int, fraction: float, snapshot: str
    ) -> str:
        """DLC's name of one map image: ``<image>_<kind>_<train|test>_<shuffle>_<fraction>_
        <snapshot>.png`` (``image`` the labeled frame's file name, ``kind`` ``scmap``,
        ``locref``, ``paf`` or ``paf_<part>_<part>``, ``snapshot`` ``snapshot-<n>``)."""
        return f"{image}_{kind}_{split}_{shuffle}_{fraction}_{snapshot}.png"

    def tracking_results(
        self, fraction: float, shuffle: int, scorer: str, iteration: int | None = None
    ) -> Path:
        """``<scorer>-tracking-results.csv`` (dlcflow's): identity-tracking scores of
        whole videos' tracks against ground truth, one row per tracks file."""
        folder = self.evaluation_folder(fraction, shuffle, iteration)
        return folder / f"{scorer}-tracking-results.csv"

    @staticmethod
    def assembly_results_of(results_csv: str | os.PathLike[str]) -> Path:
        """``<scorer>-assembly-results.csv`` (dlcflow's: RMSE, mAP and mAR after assembly)
        beside a multi-animal evaluation's ``<scorer>-results.csv``."""
        csv = Path(results_csv)
        return csv.with_name(csv.name.removesuffix("-results.csv") + "-assembly-results.csv")

    def combined_evaluation(self, iteration: int | None = None) -> Path:
        """``<eval folder>/iteration-<N>/CombinedEvaluation-results.csv``."""
        it = self.iteration if iteration is None else iteration
        prefix = str(self.cfg.get("eval_prefix") or "evaluation-results")
        return self.root / prefix / f"iteration-{it}" / "CombinedEvaluation-results.csv"

    def model_comparison_log(self) -> Path:
        """``training_model_comparison.log`` in the project folder: which shuffle of
        ``create_training_model_comparison`` has which network and augmenter (DLC's)."""
        return self.root / "training_model_comparison.log"

    def model_comparison_table(self, iteration: int | None = None) -> Path:
        """``<eval folder>/iteration-<N>/training_model_comparison.csv`` (dlcflow's): the
        errors of the compared shuffles side by side."""
        return self.combined_evaluation(iteration).with_name("training_model_comparison.csv")

    # -- training outputs ---------------------------------------------------------------
    def train_folder(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        return self.model_folder(fraction, shuffle, iteration) / "train"

    def snapshot_prefix(
        self, fraction: float, shuffle: int, training_iterations: int, iteration: int | None = None
    ) -> Path:
        """``train/snapshot-<n>`` (TensorFlow checkpoint: ``.index`` + ``.data-*`` files)."""
        return self.train_folder(fraction, shuffle, iteration) / f"snapshot-{training_iterations}"

    def onnx_export(
        self, fraction: float, shuffle: int, training_iterations: int, iteration: int | None = None
    ) -> Path:
        """``train/snapshot-<n>.onnx``: the snapshot exported for ONNX Runtime."""
        return onnx_export_of(
            self.snapshot_prefix(fraction, shuffle, training_iterations, iteration)
        )

    def snapshots(self, fraction: float, shuffle: int, iteration: int | None = None) -> list[Path]:
        """Complete snapshots (``.index`` present) sorted by training iteration, as the
        list that config ``snapshotindex`` indexes."""
        return list_snapshots(self.train_folder(fraction, shuffle, iteration))

    def learning_stats(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        """``train/learning_stats.csv`` (no header: iteration, loss, lr)."""
        return self.train_folder(fraction, shuffle, iteration) / "learning_stats.csv"

    def train_log(self, fraction: float, shuffle: int, iteration: int | None = None) -> Path:
        return self.train_folder(fraction, shuffle, iteration) / "log.txt"

    # -- analysis outputs ---------------------------------------------------------------
    @staticmethod
    def analysis_output(
        video: str | os.PathLike[str],
        scorer: str,
        destfolder: str | os.PathLike[str] | None = None,
        suffix: str = ".h5",
    ) -> Path:
        """``<destfolder or video folder>/<video stem><scorer><suffix>``; suffix ``.h5``,
        ``.csv``, ``_meta.pickle``, ``_filtered.h5``, ..."""
        video = Path(video)
        folder = Path(destfolder) if destfolder else video.parent
        return folder / f"{video.stem}{scorer}{suffix}"

    @staticmethod
    def analysis_files(video: str | os.PathLike[str], destfolder: _Dir = None) -> list[Path]:
        """Pose files of a video whatever the scorer: ``<stem>DLC*.h5`` in destfolder or
        the video folder, derived files (``_filtered``, ``_skeleton``) left out."""
        folder = Path(destfolder) if destfolder else Path(video).parent
        found = folder.glob(f"{glob_escape(Path(video).stem)}DLC*.h5") if folder.is_dir() else []
        skip = ("_filtered.h5", "_skeleton.h5")
        return sorted(p for p in found if p.is_file() and not p.name.endswith(skip))

    @staticmethod
    def detections_output(
        video: str | os.PathLike[str], scorer: str, destfolder: _Dir = None
    ) -> Path:
        """Multi-animal detections ``<stem><scorer>_full.pickle`` (video analysis)."""
        return Project.analysis_output(video, scorer, destfolder, "_full.pickle")

    @staticmethod
    def assemblies_output(
        video: str | os.PathLike[str], scorer: str, destfolder: _Dir = None
    ) -> Path:
        """Multi-animal assemblies ``<stem><scorer>_assemblies.pickle``."""
        return Project.analysis_output(video, scorer, destfolder, "_assemblies.pickle")

    @staticmethod
    def tracklets_output(
        video: str | os.PathLike[str], scorer: str, method: str, destfolder: _Dir = None
    ) -> Path:
        """Tracklets of a tracker: ``<stem><scorer>_el.pickle`` (``_bx``, ``_sk``)."""
        return Project.analysis_output(
            video, scorer, destfolder, tracker_suffix(method) + ".pickle"
        )

    @staticmethod
    def tracks_output(
        video: str | os.PathLike[str], scorer: str, method: str, destfolder: _Dir = None
    ) -> Path:
        """Stitched tracks: ``<stem><scorer>_el.h5`` (``_bx``, ``_sk``), a pose file."""
        return Project.analysis_output(video, scorer, destfolder, tracker_suffix(method) + ".h5")

    @staticmethod
    def reid_tracks_output(
        video: str | os.PathLike[str], scorer: str, method: str, destfolder: _Dir = None
    ) -> Path:
        """Tracks stitched with re-identification: ``<stem><scorer>_el_tr.h5`` (``_bx``,
        ``_sk``), DLC's ``transformer_reID`` output."""
        return Project.analysis_output(video, scorer, destfolder, tracker_suffix(method) + "_tr.h5")

    @staticmethod
    def reid_checkpoint(folder: str | os.PathLike[str], epochs: int) -> Path:
        """The re-identification encoder in ``folder`` (default of DLC's ``ckpt_folder``:
        the model's train folder): ``dlc_transreid_<epochs>.keras``."""
        return Path(folder) / f"dlc_transreid_{int(epochs)}.keras"

    @staticmethod
    def groundtruth_file(video: str | os.PathLike[str]) -> Path:
        """A video's ground truth beside it: ``<video folder>/<stem>_groundtruth.h5``."""
        v = Path(video)
        return v.with_name(v.stem + GROUNDTRUTH_SUFFIX)

    @staticmethod
    def derived_output(data_h5: str | os.PathLike[str], suffix: str) -> Path:
        """``<data stem><suffix>`` beside a pose file ``<stem><scorer>[_filtered].h5``:
        ``_filtered.h5``, ``_skeleton.h5``, ``_labeled.mp4``, ``_meta.pickle``..."""
        data = Path(data_h5)
        return data.with_name(data.name[: -len(data.suffix) or None] + suffix)

    @staticmethod
    def kinematics_output(data_h5: str | os.PathLike[str], suffix: str = ".h5") -> Path:
        """Kinematics of a pose file: ``<data stem>_kinematics.h5`` (suffix ``.csv``: its
        csv), e.g. ``<stem><scorer>_filtered_kinematics.h5``, ``<stem>..._DLC_3D_kinematics.h5``."""
        return Project.derived_output(data_h5, f"_kinematics{suffix}")

    @staticmethod
    def kinematics_plot(data_h5: str | os.PathLike[str], kind: str) -> Path:
        """A kinematics plot of a pose file: ``<data stem>_kinematics_<kind>.png``
        (``speed``: speed over time with the bouts shaded; ``occupancy``: heat map)."""
        return Project.derived_output(data_h5, f"_kinematics_{kind}.png")

    @staticmethod
    def kinematics_summary(root: str | os.PathLike[str]) -> Path:
        """``<project folder>/kinematics-summary.csv``: one row per video and individual
        (a 2D or a 3D project's folder)."""
        return Path(root) / "kinematics-summary.csv"

    @staticmethod
    def nwb_output(data_h5: str | os.PathLike[str]) -> Path:
        """The NWB file of a pose file, beside it: ``<data stem>.nwb`` (``<stem><scorer>.nwb``,
        ``<stem><scorer>_el_filtered.nwb``, ``<prefix>_DLC_3D.nwb``...)."""
        return Project.derived_output(data_h5, ".nwb")

    def labeled_video_output(self, data_h5: str | os.PathLike[str], color_by: str = "") -> Path:
        """DLC's labeled video of a pose file: ``<data stem>_labeled.mp4``; in a
        multi-animal project ``<data stem>_id_labeled.mp4`` (``color_by="individual"``) or
        ``_bp_labeled.mp4`` (by body part), e.g. ``<stem><scorer>_el_id_labeled.mp4``."""
        tag = ("_id" if color_by == "individual" else "_bp") if self.multianimal else ""
        return self.derived_output(data_h5, f"{tag}_labeled.mp4")

    @staticmethod
    def plot_poses_folder(video: str | os.PathLike[str], destfolder: _Dir = None) -> Path:
        """``<destfolder or video folder>/plot-poses/<video stem>/`` (plot_trajectories)."""
        return Path(destfolder or Path(video).parent) / "plot-poses" / Path(video).stem

    @staticmethod
    def labeled_video_frames_folder(video: str | os.PathLike[str], destfolder: _Dir = None) -> Path:
        """``<destfolder or video folder>/temp-<video stem>/``: labeled frames kept by
        ``create_labeled_video(save_frames=True)``."""
        return Path(destfolder or Path(video).parent) / f"temp-{Path(video).stem}"

    def outlier_labeled_folder(self, stem: str) -> Path:
        """``labeled-data/<stem>_outliers_labeled/``: outlier frames with their machine labels
        drawn (``extract_outlier_frames(savelabeled=True)``); not a labeling folder."""
        return self.labeled_data_dir / f"{stem}_outliers_labeled"

    @property
    def config_lock(self) -> Path:
        """Lock held while config.yaml is read, changed and written back by stages that may
        run in parallel (outlier extraction adding videos, merge)."""
        return self.root / ".dlcflow-config.lock"

    def scorer_name(self, shuffle: int, net_type: str, training_iterations: int | str) -> str:
        """``DLC_<net>_<Task><date>shuffle<n>_<iterations>``."""
        net = net_abbreviation(net_type)
        return f"DLC_{net}_{self.task}{self.date}shuffle{shuffle}_{training_iterations}"

    def parse_model_name(self, name: str) -> tuple[float, int]:
        """(training fraction, shuffle) of a model folder name made by :meth:`model_name`."""
        prefix = f"{self.task}{self.date}-trainset"
        if not name.startswith(prefix) or "shuffle" not in name:
            raise ValueError(f"{name!r} is not a model folder of project {self.task}{self.date}")
        pct_str, shuffle_str = name[len(prefix) :].split("shuffle", 1)
        for fraction in self.training_fractions:
            if str(pct(fraction)) == pct_str:
                return fraction, int(shuffle_str)
        raise ValueError(
            f"{name!r}: trainset{pct_str} matches no TrainingFraction "
            f"{self.training_fractions} in {self.config_path}"
        )


def snapshot_iteration(prefix: str | os.PathLike[str]) -> int:
    """The training iteration of ``snapshot-<n>`` (the integer after the dash)."""
    name = Path(prefix).name.split(".")[0]
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        raise ValueError(f"{prefix}: not a snapshot name (snapshot-<iteration>)") from None


def onnx_export_of(snapshot: str | os.PathLike[str]) -> Path:
    """The ONNX export beside a snapshot: ``snapshot-<n>.onnx`` for the prefix
    ``.../snapshot-<n>`` (or its ``.index`` file)."""
    path = Path(snapshot)
    name = path.name[: -len(".index")] if path.name.endswith(".index") else path.name
    return path.with_name(name + ".onnx")


def list_snapshots(train_folder: str | os.PathLike[str]) -> list[Path]:
    """Snapshot prefixes in a train folder that have their ``.index`` file, sorted by
    iteration (DLC's order)."""
    folder = Path(train_folder)
    if not folder.is_dir():
        return []
    prefixes = {p.with_suffix("") for p in folder.glob("snapshot-*.index")}
    return sorted(prefixes, key=snapshot_iteration)


def _basename(video_key: str) -> str:
    """File name of a video_sets key, whichever slash the OS that wrote it used."""
    return video_key.replace("\\", "/").rsplit("/", 1)[-1]


def nframes_digits(nframes: int) -> int:
    """Zero-fill width of DLC frame names: ceil(log10(nframes)) digits (at least 1)."""
    return max(1, int(math.ceil(math.log10(nframes)))) if nframes > 1 else 1


def frame_name(index: int, nframes: int) -> str:
    """DLC's PNG name of frame ``index`` in a video of ``nframes`` frames."""
    return f"img{str(index).zfill(nframes_digits(nframes))}.png"


def tracker_suffix(method: str) -> str:
    """``_el``, ``_bx`` or ``_sk`` of the ``ellipse``, ``box`` or ``skeleton`` tracker."""
    try:
        return TRACKER_SUFFIXES[method]
    except KeyError:
        known = ", ".join(TRACKER_SUFFIXES)
        raise ValueError(f"unknown track_method {method!r}; known: {known}") from None


def refined_tracklets_path(tracklets: str | os.PathLike[str]) -> Path:
    """Where refining a tracklet pickle saves its tracks: ``<stem><scorer>_el.pickle`` →
    ``<stem><scorer>_el.h5`` beside it (DLC's ``TrackletManager.save``, which replaces
    "pickle" by "h5" in the name; a tracks ``.h5`` is saved in place)."""
    p = Path(tracklets)
    return p.with_suffix(".h5") if p.suffix == ".pickle" else p
