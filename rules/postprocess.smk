rule filter:
    input:
        user_targets("filter"),


rule skeleton:
    input:
        user_targets("skeleton"),


rule labeled_videos:
    input:
        user_targets("labeled_videos"),


rule plots:
    input:
        user_targets("plots"),


rule outliers:
    input:
        user_targets("outliers"),


rule nwb:
    input:
        user_targets("nwb"),


rule filter_predictions:
    input:
        "{folder}/{stem}{scorer}{tracks}.h5",
    output:
        "{folder}/{stem}{scorer}{tracks}_filtered.h5",
    log:
        "logs/filter{folder}/{stem}{scorer}{tracks}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        options=analysis_options("filter"),
    script:
        "../scripts/filter_predictions.py"


rule skeleton_features:
    input:
        "{folder}/{stem}{scorer}{tracks}.h5",
    output:
        "{folder}/{stem}{scorer}{tracks}_skeleton.h5",
    log:
        "logs/skeleton{folder}/{stem}{scorer}{tracks}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=analysis_config,
    script:
        "../scripts/skeleton_features.py"


rule labeled_video:
    input:
        unpack(labeled_video_inputs),
    output:
        "{folder}/{stem}{scorer}{tracks}{filtered}{by}_labeled.mp4",
    log:
        "logs/labeled_video{folder}/{stem}{scorer}{tracks}{filtered}{by}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        config=analysis_config,
        options=analysis_options("labeled_videos"),
    script:
        "../scripts/labeled_video.py"


rule export_nwb:
    input:
        unpack(nwb_inputs),
    output:
        "{folder}/{stem}{scorer}{tracks}{filtered}.nwb",
    log:
        "logs/nwb{folder}/{stem}{scorer}{tracks}{filtered}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=analysis_config,
        metadata=nwb_metadata,
    script:
        "../scripts/export_nwb.py"


rule plot_poses:
    input:
        poses=plot_pose_file,
    output:
        # multi-animal tracks: one job per individual, DLC's names end with it
        trajectory="{folder}/plot-poses/{stem}/trajectory{filtered}{individual}.png",
        plot="{folder}/plot-poses/{stem}/plot{filtered}{individual}.png",
        likelihood="{folder}/plot-poses/{stem}/plot-likelihood{filtered}{individual}.png",
        hist="{folder}/plot-poses/{stem}/hist{filtered}{individual}.png",
    log:
        "logs/plots{folder}/{stem}{filtered}{individual}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=analysis_config,
        individual=plotted_individual,
    script:
        "../scripts/plot_poses.py"


rule extract_outliers:
    input:
        unpack(outlier_inputs),
    output:
        "{project}/labeled-data/{video}/.dlcflow-outliers-iter{iteration}.json",
    log:
        "{project}/logs/outliers/iteration-{iteration}-{video}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        options=options_setting("outliers"),
    script:
        "../scripts/extract_outliers.py"


rule kinematics:
    input:
        user_targets("kinematics"),


rule kinematics_file:
    input:
        "{folder}/{stem}{scorer}{tracks}{filtered}.h5",
    output:
        h5="{folder}/{stem}{scorer}{tracks}{filtered}_kinematics.h5",
        speed="{folder}/{stem}{scorer}{tracks}{filtered}_kinematics_speed.png",
        occupancy="{folder}/{stem}{scorer}{tracks}{filtered}_kinematics_occupancy.png",
    log:
        "logs/kinematics{folder}/{stem}{scorer}{tracks}{filtered}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=analysis_config,
        options=analysis_options("kinematics"),
    script:
        "../scripts/kinematics_file.py"


rule kinematics_summary:
    input:
        kinematics_summary_inputs,
    output:
        "{project}/kinematics-summary.csv",
    log:
        "{project}/logs/kinematics-summary.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/kinematics_summary.py"
