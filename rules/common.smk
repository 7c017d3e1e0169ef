# Config loading, paths and input functions. Path logic lives in dlcflow.project.paths and
# dlcflow.workflow.settings; this file only adapts it to Snakemake's wildcards.
import re
from pathlib import Path

from dlcflow.core.log import install_plain_warnings
from dlcflow.project.paths import Project, onnx_export_of
from dlcflow.workflow import config as wf_config
from dlcflow.workflow import settings as wf
from dlcflow.workflow.rulelog import EXPECTED, failure_summary, one_line, stop

install_plain_warnings()  # one line each, once

try:  # a bad config stops here, in one line, before the DAG is built
    wf_config.validate_config(
        config, workflow.source_path("../workflow/schemas/config.schema.yaml")
    )
    if config["project"]:
        Project(config["project"])  # a missing or broken project config.yaml
    USER = wf.settings(config)
    DEMO = wf.settings(config, demo=True)
    DEMO_REFINED = wf.settings(config, demo=True, refined=True)
    wf.check_refined(DEMO, DEMO_REFINED)
except EXPECTED as err:
    stop(err)

DEMO_DIR = Path(config["demo"]["outdir"]).resolve()
DEMO_POINTER = str(DEMO_DIR / "project.txt")
DEMO_REPORT = str(DEMO_DIR / "report.txt")
DEMO_MERGED = str(DEMO_DIR / "merged.txt")


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


def is_demo(project_dir):
    return Path(project_dir).parent == DEMO_DIR


def settings_of(project_dir, iteration=0):
    """The settings of a project; the demo's iterations after the first are refined."""
    if not is_demo(project_dir):
        return USER
    return DEMO if int(iteration) == 0 else DEMO_REFINED


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


def demo_project():
    pointer = checkpoints.demo_project.get().output.pointer
    return Project(Path(pointer).read_text().strip())


def targets(stage, project):
    return wf.stage_targets(project, stage, settings_of(project.root))


def user_targets(stage):
    @one_line
    def inputs(wildcards):
        return targets(stage, user_project())

    return inputs


@one_line
def demo_targets(wildcards):
    """Iteration 0 of the demo: every stage, post-processing of every video."""
    project = demo_project()
    labeled, _ = demo_stems()
    files = [str(project.frames_manifest(s)) for s in labeled]
    files += [str(project.check_labels_folder(s)) for s in labeled]
    for stage in ("dataset", "train", "evaluate"):
        files += wf.stage_targets(project, stage, DEMO, iteration=0)
    for stage in ("analyze", "filter", "plots", "labeled_videos", "skeleton"):
        files += wf.stage_targets(project, stage, DEMO)
    return files


def demo_stems():
    from dlcflow.devtools.demo import demo_video_stems

    return demo_video_stems(config["demo"]["n_videos"], config["demo"]["n_test_videos"])


@one_line
def demo_merge_inputs(wildcards):
    """Refinement of iteration 0: outlier frames of the held-out videos, labeled by the
    oracle (the stand-in for `dlcflow refine`)."""
    project = demo_project()
    _, heldout = demo_stems()
    return {
        "pointer": DEMO_POINTER,
        "outliers": [str(project.outliers_record(s, 0)) for s in heldout],
        "labels": [str(project.collected_data(s)) for s in heldout],
        # the whole iteration is done before merging
        "iteration0": demo_targets(wildcards),
    }


@one_line
def demo_report_inputs(wildcards):
    checkpoints.demo_merge.get()
    project = demo_project()
    return {
        "pointer": DEMO_POINTER,
        "merged": DEMO_MERGED,
        "analysis": wf.stage_targets(project, "analyze", DEMO),
        # every video again, with the refined model (file names differ by its maxiters)
        "refined": wf.stage_targets(project, "analyze", DEMO_REFINED),
        "evaluation": wf.stage_targets(project, "evaluate", DEMO, iteration=0)
        + wf.stage_targets(project, "evaluate", DEMO_REFINED, iteration=1),
    }


@one_line
def oracle_frames(wildcards):
    """What the oracle labels: extracted frames, or a held-out video's outlier frames."""
    project = project_of(wildcards)
    if wildcards.video in demo_stems()[1]:
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
    return wf.labels_inputs(
        project_of(wildcards),
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
    return settings_of(wildcards.project).net(project_of(wildcards))


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
    poses = (
        f"{wildcards.folder}/{wildcards.stem}{wildcards.scorer}{wildcards.filtered}.h5"
    )
    return {"video": video["video"], "poses": poses}


@one_line
def plot_pose_file(wildcards):
    project, st = analysis_project(wildcards)
    return wf.pose_file(project, st, wildcards.stem, wildcards.filtered)


@one_line
def outlier_inputs(wildcards):
    st = settings_of(wildcards.project, wildcards.iteration)
    return wf.outlier_inputs(project_of(wildcards), st, wildcards.video)


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
def analysis_project(wildcards):
    """The project whose model analyzes videos in this folder, and its settings. A demo
    folder names its project without the checkpoint (jobs on a cluster node cannot ask
    the checkpoint), as DEMO_DIR/<project>/videos."""
    folder = Path(wildcards.folder).resolve()
    if DEMO_DIR in folder.parents:
        root = DEMO_DIR / folder.relative_to(DEMO_DIR).parts[0]
        return Project(root / "config.yaml"), DEMO
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
