# 3D: camera calibration, triangulation of each recording's views, 3D labeled videos, and
# the 3D demo. A 3D project is `--config project3d=/path/to/config.yaml`; each camera's
# view is analyzed by the 2D rule analyze_video (one job per view), then triangulated.
# Paths come from dlcflow.project.project3d, file lists from dlcflow.workflow.threed.


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
    return wf3d.calibration_inputs(project3d_of(wildcards))


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


rule calibrate:
    input:
        user_targets_3d("calibrate"),


rule triangulate:
    input:
        user_targets_3d("triangulate"),


rule labeled_videos_3d:
    input:
        user_targets_3d("labeled_videos_3d"),


rule demo_3d:
    input:
        demo3d_targets,


rule calibrate_cameras:
    input:
        images=calibration_images_of,
    output:
        calibration="{project3d}/camera_matrix/calibration.toml",
    log:
        "{project3d}/logs/calibrate_cameras.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cbrow=calibration_setting("cbrow"),
        cbcol=calibration_setting("cbcol"),
        square_size=calibration_setting("square_size"),
        alpha=calibration_setting("alpha"),
        board=calibration_setting("board"),
    script:
        "../scripts/calibrate_cameras.py"


rule triangulate_recording:
    input:
        unpack(triangulation_inputs_of),
    output:
        h5="{project3d}/triangulation/{name}.h5",
    log:
        "{project3d}/logs/triangulate/{name}.log",
    wildcard_constraints:
        name=r"[^/]+(?<!_quality)(?<!_filtered)",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        filterpredictions=calibration_setting("filterpredictions"),
        filtertype=calibration_setting("filtertype"),
        save_as_csv=calibration_setting("save_as_csv"),
    script:
        "../scripts/triangulate_recording.py"


rule labeled_video_3d:
    input:
        unpack(labeled_video_3d_inputs_of),
    output:
        "{project3d}/triangulation/{name}_labeled3d.mp4",
    log:
        "{project3d}/logs/labeled_video_3d/{name}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/labeled_video_3d.py"


rule demo3d_report:
    input:
        unpack(demo3d_report_inputs),
    output:
        "{demo3d_dir}/report.txt",
    log:
        "{demo3d_dir}/logs/demo3d_report.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/demo3d_report.py"
