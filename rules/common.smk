# Config loading, paths and input functions. Path logic lives in dlcflow.project and
# dlcflow.workflow; this file only adapts it to Snakemake's wildcards.
import re
from pathlib import Path

from dlcflow.project import Project
from dlcflow import workflow as wf

wf.validate_config(
    config, workflow.source_path("../workflow/schemas/config.schema.yaml")
)

DEMO_DIR = Path(config["demo"]["outdir"]).resolve()
DEMO_POINTER = str(DEMO_DIR / "project.txt")
DEMO_REPORT = str(DEMO_DIR / "report.txt")
USER = wf.settings(config)
DEMO = wf.settings(config, demo=True)


wildcard_constraints:
    project=r".+",
    video=r"[^/]+",
    iteration=r"\d+",
    model=r"[^/]+",
    maxiters=r"\d+",
    folder=r".+",
    stem=r"[^/]+?",
    scorer=r"DLC_[^/]+?shuffle\d+_\d+",


def is_demo(project_dir):
    return Path(project_dir).parent == DEMO_DIR


def settings_of(project_dir):
    return DEMO if is_demo(project_dir) else USER


def project_of(wildcards):
    return Project(Path(wildcards.project) / "config.yaml")


def user_project():
    if not config["project"]:
        raise ValueError(
            "no project set: run `snakemake --config project=/path/to/config.yaml TARGET` "
            "(or `snakemake demo`)"
        )
    return Project(config["project"])


def demo_project():
    pointer = checkpoints.demo_project.get().output.pointer
    return Project(Path(pointer).read_text().strip())


def targets(stage, project):
    return wf.stage_targets(project, stage, settings_of(project.root))


def user_targets(stage):
    def inputs(wildcards):
        return targets(stage, user_project())

    return inputs


def demo_targets(wildcards):
    project = demo_project()
    return [f for stage in wf.STAGES for f in targets(stage, project)]


def demo_config(wildcards):
    return str(demo_project().config_path)


def demo_report_inputs(wildcards):
    project = demo_project()
    return {
        "analysis": targets("analyze", project),
        "evaluation": targets("evaluate", project),
    }


def frames_video(wildcards):
    return wf.frames_input(project_of(wildcards), wildcards.video)


def collected_data(wildcards):
    return str(project_of(wildcards).collected_data(wildcards.video))


def dataset_labels(wildcards):
    return wf.labels_inputs(project_of(wildcards), oracle=is_demo(wildcards.project))


def groundtruth(wildcards):
    from dlcflow.demo import groundtruth_path

    project = project_of(wildcards)
    return str(
        groundtruth_path(
            project.resolve_video(project.video_key_for_stem(wildcards.video))
        )
    )


def setting(name):
    def value(wildcards):
        return getattr(settings_of(wildcards.project), name)

    return value


def net_type(wildcards):
    return settings_of(wildcards.project).net(project_of(wildcards))


def pose_cfg_of_model(wildcards):
    return str(
        Path(wildcards.project)
        / "dlc-models"
        / f"iteration-{wildcards.iteration}"
        / wildcards.model
        / "train"
        / "pose_cfg.yaml"
    )


def evaluation_snapshot(wildcards):
    project = project_of(wildcards)
    fraction, shuffle = project.parse_model_name(wildcards.model)
    _, iterations = wf.parse_scorer(wildcards.scorer)
    iteration = int(wildcards.iteration)
    return str(
        wf.final_snapshot_index(project, fraction, shuffle, iterations, iteration)
    )


def analysis_project(wildcards):
    folder = Path(wildcards.folder).resolve()
    if folder == DEMO_DIR or DEMO_DIR in folder.parents:
        return demo_project(), DEMO
    return user_project(), USER


def analysis_inputs(wildcards):
    project, st = analysis_project(wildcards)
    return wf.analysis_inputs(
        project, st, wildcards.folder, wildcards.stem, wildcards.scorer
    )


def analysis_setting(name):
    def value(wildcards):
        return getattr(analysis_project(wildcards)[1], name)

    return value


def analysis_config(wildcards):
    return str(analysis_project(wildcards)[0].config_path)


def body_parts(wildcards):
    return project_of(wildcards).bodyparts
