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
SHUFFLES = [int(s) for s in config["shuffles"]]


wildcard_constraints:
    project=r".+",
    video=r"[^/]+",
    iteration=r"\d+",
    model=r"[^/]+",


def is_demo(project_dir):
    return Path(project_dir).parent == DEMO_DIR


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
    return wf.stage_targets(project, stage, SHUFFLES, oracle=is_demo(project.root))


def user_targets(stage):
    def inputs(wildcards):
        return targets(stage, user_project())

    return inputs


def demo_targets(wildcards):
    project = demo_project()
    return [f for stage in wf.STAGES for f in targets(stage, project)]


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


def dataset_setting(key):
    def value(wildcards):
        if is_demo(wildcards.project) and key in config["demo"]:
            return config["demo"][key]
        return config[key]

    return value


def body_parts(wildcards):
    return project_of(wildcards).bodyparts
