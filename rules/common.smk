# Config loading, paths and input functions. Path logic lives in dlcflow.project.paths and
# dlcflow.workflow.settings; this file only adapts it to Snakemake's wildcards.
import re
from pathlib import Path

from dlcflow.core.log import install_plain_warnings
from dlcflow.devtools import demos as wf_demos
from dlcflow.project.paths import Project, onnx_export_of
from dlcflow.project.project3d import Project3D
from dlcflow.workflow import config as wf_config
from dlcflow.workflow import diagnostics as wf_diag
from dlcflow.workflow import settings as wf
from dlcflow.workflow import threed as wf3d
from dlcflow.workflow.rulelog import EXPECTED, failure_summary, one_line, stop

install_plain_warnings()  # one line each, once

try:  # a bad config stops here, in one line, before the DAG is built
    wf_config.validate_config(
        config, workflow.source_path("../workflow/schemas/config.schema.yaml")
    )
    if config["project"]:
        Project(config["project"])  # a missing or broken project config.yaml
    USER = wf.settings(config)
    # `demo`, `demo_multianimal` and `demo_3d`, each its own folder
    DEMOS = wf_demos.demos(config)
    # the settings of each demo's first iteration and of its refined ones
    DEMO_SETTINGS = {
        name: (
            wf.settings(config, demo=name),
            wf.settings(config, demo=name, refined=True),
        )
        for name in DEMOS
    }
    for name, (first, refined) in DEMO_SETTINGS.items():
        if DEMOS[name].refines:
            wf.check_refined(first, refined, name)
except EXPECTED as err:
    stop(err)

# the demo folders, for the wildcard that names one
DEMO_DIRS = "|".join(re.escape(str(d.outdir)) for d in DEMOS.values())
# the demos with a refined iteration (merge, report of demo.smk)
REFINING_DIRS = "|".join(re.escape(str(d.outdir)) for d in DEMOS.values() if d.refines)
DEMO3D_DIRS = "|".join(re.escape(str(d.outdir)) for d in DEMOS.values() if d.threed)


wildcard_constraints:
    project=r".+",
    video=r"[^/]+",
    iteration=r"\d+",
    model=r"[^/]+",
    evalfolder=r"[^/]+",
    maxiters=r"\d+",
    folder=r".+",
    stem=r"[^/]+?",
    scorer=r"DLC_[^/]+?shuffle\d+_\d+",
    filtered=r"(|_filtered)",
    tracker=r"_el|_bx|_sk",
    tracks=r"|_el|_bx|_sk",
    by=r"|_id|_bp",
    individual=r"|[^_/][^/]*",
    demo_dir=DEMO_DIRS,
    demo3d_dir=DEMO3D_DIRS,
    project3d=r".+",


def demo_in(path):
    """The demo whose folder holds ``path``; None for the user's project."""
    return wf_demos.demo_of(DEMOS, path)


def is_demo(project_dir):
    return demo_in(project_dir) is not None


def settings_of(project_dir, iteration=0):
    """The settings of a project; a demo's iterations after the first are refined."""
    demo = demo_in(project_dir)
    if demo is None:
        return USER
    return DEMO_SETTINGS[demo.name][0 if int(iteration) == 0 else 1]


def demo_at(demo_dir):
    """The demo of a ``{demo_dir}`` wildcard."""
    return next(d for d in DEMOS.values() if str(d.outdir) == demo_dir)


@one_line
def project_of(wildcards):
    return Project(Path(wildcards.project) / "config.yaml")


def user_project():
    if not config["project"]:
        raise ValueError(
            "no project set: run `snakemake --cores N TARGET --config "
            "project=/path/to/config.yaml` (the target before --config), or "
            "`snakemake --cores N demo`"
        )
    return Project(config["project"])


def demo_project(demo):
    pointer = checkpoints.demo_project.get(demo_dir=str(demo.outdir)).output.pointer
    return Project(Path(pointer).read_text().strip())


def targets(stage, project):
    return wf.stage_targets(project, stage, settings_of(project.root))


def user_targets(stage):
    @one_line
    def inputs(wildcards):
        return targets(stage, user_project())

    return inputs


def demo_iteration(demo):
    """Iteration 0 of a demo: every stage, post-processing of every video."""
    project = demo_project(demo)
    first = DEMO_SETTINGS[demo.name][0]
    labeled, _ = demo.stems()
    files = [str(project.frames_manifest(s)) for s in labeled]
    files += [str(project.check_labels_folder(s)) for s in labeled]
    for stage in ("dataset", "train", "evaluate"):
        files += wf.stage_targets(project, stage, first, iteration=0)
    for stage in ("analyze", "filter", "plots", "labeled_videos", "skeleton"):
        files += wf.stage_targets(project, stage, first)
    if not project.multianimal:  # the single-animal demo: kinematics (its report), NWB
        files += wf.stage_targets(project, "kinematics", first)
        files += wf.stage_targets(project, "nwb", first)
    return files


def demo_targets(name):
    """The files of the target `name` (`demo`, `demo_multianimal`): its first iteration
    and its report (which waits for the refined one)."""

    @one_line
    def inputs(wildcards):
        demo = DEMOS[name]
        return demo_iteration(demo) + [str(demo.report)]

    return inputs


@one_line
def demo_merge_inputs(wildcards):
    """Refinement of iteration 0: outlier frames of the held-out videos, labeled by the
    oracle (the stand-in for `dlcflow refine`)."""
    demo = demo_at(wildcards.demo_dir)
    project = demo_project(demo)
    _, heldout = demo.stems()
    return {
        "pointer": str(demo.pointer),
        "outliers": [str(project.outliers_record(s, 0)) for s in heldout],
        "labels": [str(project.collected_data(s)) for s in heldout],
        # the whole iteration is done before merging
        "iteration0": demo_iteration(demo),
    }


@one_line
def demo_report_inputs(wildcards):
    demo = demo_at(wildcards.demo_dir)
    checkpoints.demo_merge.get(demo_dir=wildcards.demo_dir)
    project = demo_project(demo)
    first, refined = DEMO_SETTINGS[demo.name]
    return {
        "pointer": str(demo.pointer),
        "merged": str(demo.merged),
        "analysis": wf.stage_targets(project, "analyze", first),
        # every video again, with the refined model (file names differ by its maxiters)
        "refined": wf.stage_targets(project, "analyze", refined),
        "evaluation": wf.stage_targets(project, "evaluate", first, iteration=0)
        + wf.stage_targets(project, "evaluate", refined, iteration=1),
        # the refined model's tracks stitched with re-identification (multi-animal demo)
        "reid": (
            wf.stage_targets(project, "reid", refined) if project.multianimal else []
        ),
        # speed errors against the ground truth (single-animal demo)
        "kinematics": (
            [] if project.multianimal else wf.kinematics_files(project, first)
        ),
    }


def demo_name(wildcards):
    return demo_at(wildcards.demo_dir).name


def demo_board(wildcards):
    """The 3D demo's checkerboard and its images (None for the other demos)."""
    demo = demo_at(wildcards.demo_dir)
    if not demo.threed:
        return None
    keys = ("cbrow", "cbcol", "square_size", "n_calibration_images")
    return {k: config[demo.name][k] for k in keys}


def demo_param(key):
    """A key of the config section of the `{demo_dir}` wildcard's demo."""

    def value(wildcards):
        return config[demo_at(wildcards.demo_dir).name].get(key)

    return value


@one_line
def oracle_frames(wildcards):
    """What the oracle labels: extracted frames, or a held-out video's outlier frames."""
    project = project_of(wildcards)
    if wildcards.video in demo_in(wildcards.project).stems()[1]:
        return str(project.outliers_record(wildcards.video, 0))
    return str(project.frames_manifest(wildcards.video))


@one_line
def frames_video(wildcards):
    return wf.frames_input(project_of(wildcards), wildcards.video)


@one_line
def collected_data(wildcards):
    return str(project_of(wildcards).collected_data(wildcards.video))


@one_line
def dataset_labels(wildcards):
    project = project_of(wildcards)
    if wf.comparison_model(project, wildcards.model, int(wildcards.iteration)):
        return []  # made by create_training_model_comparison on its split, never remade
    return wf.labels_inputs(
        project,
        oracle=is_demo(wildcards.project),
        iteration=int(wildcards.iteration),
        strict=settings_of(wildcards.project).strict_labels,
    )


@one_line
def groundtruth(wildcards):
    """Ground truth of a demo video (held-out ones are not in video_sets yet)."""
    from dlcflow.devtools.demo import groundtruth_path

    videos = wf.analysis_videos(project_of(wildcards))
    video = next(v for v in videos if v.stem == wildcards.video)
    return str(groundtruth_path(video.resolve()))


def setting(name):
    @one_line
    def value(wildcards):
        st = settings_of(wildcards.project, getattr(wildcards, "iteration", 0))
        return getattr(st, name)

    return value


def options_setting(name):
    """The config section of an options setting (a dict: params stay comparable)."""

    @one_line
    def value(wildcards):
        st = settings_of(wildcards.project, getattr(wildcards, "iteration", 0))
        return getattr(st, name).to_config()

    return value


@one_line
def init_weights(wildcards):
    iteration = int(wildcards.iteration)
    return wf.init_weights_for(
        project_of(wildcards),
        settings_of(wildcards.project, iteration),
        settings_of(wildcards.project, max(iteration - 1, 0)),
        wildcards.model,
        iteration,
    )


@one_line
def init_snapshot(wildcards):
    """The previous iteration's snapshot a refined model starts from (none otherwise)."""
    return wf.snapshot_input(init_weights(wildcards))


@one_line
def net_type(wildcards):
    """The network of a new dataset: a model comparison's shuffle has its own."""
    project = project_of(wildcards)
    entry = wf.comparison_model(project, wildcards.model, int(wildcards.iteration))
    if entry is not None:
        return entry.net_type
    return settings_of(wildcards.project).net(project)


@one_line
def augmenter_type(wildcards):
    """The augmenter of a new dataset: a model comparison's shuffle has its own."""
    project = project_of(wildcards)
    entry = wf.comparison_model(project, wildcards.model, int(wildcards.iteration))
    if entry is not None:
        return entry.augmenter_type
    return settings_of(wildcards.project).augmenter_type


@one_line
def comparison_results(wildcards):
    """The evaluations of a model comparison's shuffles (rules/evaluate.smk)."""
    project = project_of(wildcards)
    st = settings_of(wildcards.project, wildcards.iteration)
    return wf.comparison_results(project, st, int(wildcards.iteration))


@one_line
def analysis_of(wildcards):
    project, st = analysis_project(wildcards)
    return project, st


@one_line
def labeled_video_inputs(wildcards):
    project, st = analysis_project(wildcards)
    video = wf.analysis_inputs(
        project, st, wildcards.folder, wildcards.stem, wildcards.scorer
    )
    w = wildcards
    poses = f"{w.folder}/{w.stem}{w.scorer}{w.tracks}{w.filtered}.h5"
    return {"video": video["video"], "poses": poses}


@one_line
def nwb_inputs(wildcards):
    """The pose file an NWB file holds, its video, and the nwb.metadata YAML if set."""
    inputs = labeled_video_inputs(wildcards)
    metadata = analysis_project(wildcards)[1].nwb.get("metadata")
    if metadata:
        inputs["metadata"] = metadata
    return inputs


def nwb_metadata(wildcards):
    return analysis_project(wildcards)[1].nwb.get("metadata") or ""


def plotted_individual(wildcards):
    """The individual a plots job draws ("all": the one animal of a single-animal file)."""
    return wildcards.individual or "all"


@one_line
def plot_pose_file(wildcards):
    project, st = analysis_project(wildcards)
    return wf.pose_file(project, st, wildcards.stem, wildcards.filtered)


@one_line
def outlier_inputs(wildcards):
    st = settings_of(wildcards.project, wildcards.iteration)
    return wf.outlier_inputs(project_of(wildcards), st, wildcards.video)


@one_line
def raw_outlier_inputs(wildcards):
    st = settings_of(wildcards.project, wildcards.iteration)
    return wf_diag.raw_outlier_inputs(project_of(wildcards), st, wildcards.video)


@one_line
def pose_cfg_of_model(wildcards):
    return str(
        Path(wildcards.project)
        / "dlc-models"
        / f"iteration-{wildcards.iteration}"
        / wildcards.model
        / "train"
        / "pose_cfg.yaml"
    )


@one_line
def evaluation_snapshot(wildcards):
    project = project_of(wildcards)
    fraction, shuffle = project.parse_model_name(wildcards.model)
    _, iterations = wf.parse_scorer(wildcards.scorer)
    iteration = int(wildcards.iteration)
    return str(
        wf.final_snapshot_index(project, fraction, shuffle, iterations, iteration)
    )


@one_line
def maps_snapshot(wildcards):
    """The final snapshot of a model folder (the one its `evaluate` job evaluates)."""
    project = project_of(wildcards)
    fraction, shuffle = project.parse_model_name(wildcards.model)
    iteration = int(wildcards.iteration)
    st = settings_of(wildcards.project, iteration)
    return str(
        wf.final_snapshot_index(project, fraction, shuffle, st.maxiters, iteration)
    )


@one_line
def analysis_project(wildcards):
    """The project whose model analyzes videos in this folder, and its settings. A demo
    folder names its project without the checkpoint (jobs on a cluster node cannot ask
    the checkpoint), as <demo outdir>/<project>/videos."""
    folder = Path(wildcards.folder).resolve()
    demo = demo_in(folder)
    if demo is not None:
        root = demo.outdir / folder.relative_to(demo.outdir).parts[0]
        return Project(root / "config.yaml"), DEMO_SETTINGS[demo.name][0]
    return user_project(), USER


@one_line
def analysis_inputs(wildcards):
    """The video and the snapshot; with analyze.engine onnx or auto also its ONNX export."""
    project, st = analysis_project(wildcards)
    inputs = wf.analysis_inputs(
        project, st, wildcards.folder, wildcards.stem, wildcards.scorer
    )
    if st.engine != "tensorflow":  # the export beside the snapshot analysis uses
        inputs["onnx"] = str(onnx_export_of(inputs["snapshot"]))
    return inputs


@one_line
def reid_inputs(wildcards):
    """The tracklets, the video and the snapshot whose backbone gives the features."""
    inputs = analysis_inputs(wildcards)
    w = wildcards
    return {
        "tracklets": f"{w.folder}/{w.stem}{w.scorer}{w.tracker}.pickle",
        "video": inputs["video"],
        "snapshot": inputs["snapshot"],
    }


@one_line
def detections_video_inputs(wildcards):
    """The video and its detections (_full.pickle)."""
    w = wildcards
    return {
        "video": analysis_inputs(w)["video"],
        "full": f"{w.folder}/{w.stem}{w.scorer}_full.pickle",
    }


@one_line
def tracklets_video_inputs(wildcards):
    """The video and its tracklets (the tracker of the tracking settings)."""
    project, st = analysis_project(wildcards)
    return wf_diag.tracklet_video_inputs(project, st, wildcards.folder, wildcards.stem)


def analysis_setting(name):
    @one_line
    def value(wildcards):
        return getattr(analysis_project(wildcards)[1], name)

    return value


def analysis_options(name):
    """The config section of an options setting of an analysis folder's project."""

    @one_line
    def value(wildcards):
        return getattr(analysis_project(wildcards)[1], name).to_config()

    return value


@one_line
def analysis_config(wildcards):
    return str(analysis_project(wildcards)[0].config_path)


@one_line
def body_parts(wildcards):
    return project_of(wildcards).bodyparts


# -- 3D (rules/threed.smk) --------------------------------------------------------------


def user_project3d():
    if not config["project3d"]:
        raise ValueError(
            "no 3D project set: run `snakemake --cores N TARGET --config "
            "project3d=/path/to/config.yaml` (the 3D project's config), or "
            "`snakemake --cores N demo_3d`"
        )
    return Project3D(config["project3d"])


def settings_for(project):
    """The workflow settings of a camera's 2D project (a demo's own, or the user's)."""
    return settings_of(project.root)


def user_targets_3d(stage):
    @one_line
    def inputs(wildcards):
        return wf3d.stage_targets_3d(user_project3d(), stage, settings_for)

    return inputs


@one_line
def project3d_of(wildcards):
    return Project3D(Path(wildcards.project3d) / "config.yaml")


@one_line
def calibration_images_of(wildcards):
    """The calibration images' folder (calibration moves the images it cannot use to
    removed_calibration_images/: a list of files would change and ask for a rerun)."""
    p3d = project3d_of(wildcards)
    wf3d.calibration_inputs(
        p3d
    )  # every camera has images, or one line saying which not
    return str(p3d.calibration_images_dir)


def calibration_setting(name):
    """A key of the threed section; in the 3D demo's projects its demo_3d section's."""

    def value(wildcards):
        demo = demo_in(wildcards.project3d)
        section = config[demo.name] if demo is not None and demo.threed else {}
        return section.get(name, config["threed"][name])

    return value


@one_line
def triangulation_inputs_of(wildcards):
    return wf3d.triangulation_inputs(
        project3d_of(wildcards), settings_for, wildcards.name
    )


@one_line
def labeled_video_3d_inputs_of(wildcards):
    return wf3d.labeled_video_3d_inputs(
        project3d_of(wildcards), settings_for, wildcards.name
    )


def demo_projects3d(demo):
    """The 3D demo's 3D projects (all cameras, cameras 1 and 2), once it is made."""
    checkpoints.demo_project.get(demo_dir=str(demo.outdir))
    return [Project3D(line) for line in demo.pointer3d.read_text().split()]


@one_line
def demo3d_targets(wildcards):
    """The 3D demo: every view labeled, the network trained, every view analyzed, then
    the report (which waits for the calibrations and triangulations)."""
    demo = DEMOS["demo_3d"]
    project = demo_project(demo)
    first = DEMO_SETTINGS[demo.name][0]
    labeled, _ = demo.stems()
    files = [str(project.frames_manifest(s)) for s in labeled]
    files += [str(project.check_labels_folder(s)) for s in labeled]
    for stage in ("dataset", "train"):
        files += wf.stage_targets(project, stage, first, iteration=0)
    files += wf.stage_targets(project, "analyze", first)
    return files + [str(demo.report)]


@one_line
def demo3d_report_inputs(wildcards):
    demo = demo_at(wildcards.demo3d_dir)
    three, two = demo_projects3d(demo)
    return {
        "pointer": str(demo.pointer3d),
        "calibration": str(three.calibration_file),
        "triangulated": wf3d.stage_targets_3d(three, "triangulate", settings_for),
        "two_cameras": wf3d.stage_targets_3d(two, "triangulate", settings_for),
    }


@one_line
def kinematics_summary_inputs(wildcards):
    """The _kinematics.h5 of every video of the project (settings_of: demos too)."""
    project = Project(Path(wildcards.project) / "config.yaml")
    return wf.kinematics_files(project, settings_of(project.root))
