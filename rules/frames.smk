rule frames:
    input:
        user_targets("frames"),


rule extract_frames:
    input:
        video=ancient(frames_video),
    output:
        manifest="{project}/labeled-data/{video}/.dlcflow-frames.json",
    log:
        "{project}/logs/frames/{video}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        algo=config["frames"]["algo"],
        crop=config["frames"]["crop"],
        cluster_step=config["frames"]["cluster_step"],
        cluster_resizewidth=config["frames"]["cluster_resizewidth"],
        force=config["frames"]["force"],
    script:
        "../scripts/extract_frames.py"
