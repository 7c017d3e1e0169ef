# 3D: camera calibration, triangulation of each recording's views, 3D labeled videos, and
# the 3D demo. A 3D project is `--config project3d=/path/to/config.yaml`; each camera's
# view is analyzed by the 2D rule analyze_video (one job per view), then triangulated.
# Paths come from dlcflow.project.project3d, file lists from dlcflow.workflow.threed.


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
