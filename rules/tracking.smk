# Multi-animal video analysis, one rule per stage (DLC's files):
# video -> _full.pickle (detections) -> _assemblies.pickle -> _el.pickle (tracklets;
# _bx, _sk for the box and skeleton trackers) -> _el.h5 (stitched tracks); with
# re-identification (target reid) -> _el_tr.h5.


rule detect_video:
    input:
        unpack(analysis_inputs),
    output:
        full="{folder}/{stem}{scorer}_full.pickle",
    log:
        "logs/detect{folder}/{stem}{scorer}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        config=analysis_config,
        trainingsetindex=analysis_setting("trainingsetindex"),
        engine=analysis_setting("engine"),
    script:
        "../scripts/detect_video.py"


rule assemble_detections:
    input:
        full="{folder}/{stem}{scorer}_full.pickle",
    output:
        "{folder}/{stem}{scorer}_assemblies.pickle",
    log:
        "logs/assemble{folder}/{stem}{scorer}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=analysis_config,
        tracking=analysis_setting("tracking"),
    script:
        "../scripts/assemble_detections.py"


rule track_assemblies:
    input:
        "{folder}/{stem}{scorer}_assemblies.pickle",
    output:
        "{folder}/{stem}{scorer}{tracker}.pickle",
    log:
        "logs/track{folder}/{stem}{scorer}{tracker}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=analysis_config,
    script:
        "../scripts/track_assemblies.py"


rule stitch_tracklets:
    input:
        "{folder}/{stem}{scorer}{tracker}.pickle",
    output:
        "{folder}/{stem}{scorer}{tracker}.h5",
    log:
        "logs/stitch{folder}/{stem}{scorer}{tracker}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=analysis_config,
        tracking=analysis_setting("tracking"),
        save_as_csv=analysis_setting("save_as_csv"),
    script:
        "../scripts/stitch_tracklets.py"


rule reid:
    input:
        user_targets("reid"),


rule transformer_reid:
    input:
        unpack(reid_inputs),
    output:
        "{folder}/{stem}{scorer}{tracker}_tr.h5",
    log:
        "logs/reid{folder}/{stem}{scorer}{tracker}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        config=analysis_config,
        trainingsetindex=analysis_setting("trainingsetindex"),
        tracking=analysis_setting("tracking"),
    script:
        "../scripts/transformer_reid.py"


# Diagnostic videos (DLC's files): every detection of the _full.pickle before assembly
# (target detection_videos) and the tracklets before stitching (target tracklet_videos).


rule detection_videos:
    input:
        user_targets("detection_videos"),


rule detections_video:
    input:
        unpack(detections_video_inputs),
    output:
        "{folder}/{stem}{scorer}_full.mp4",
    log:
        "logs/detections_video{folder}/{stem}{scorer}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config=analysis_config,
    script:
        "../scripts/detections_video.py"


rule tracklet_videos:
    input:
        user_targets("tracklet_videos"),


rule tracklets_video:
    input:
        unpack(tracklets_video_inputs),
    output:
        "{folder}/{stem}/{stem}DLClabeled{ext}",
    log:
        "logs/tracklets_video{folder}/{stem}{ext}.log",
    wildcard_constraints:
        ext=r"\.[A-Za-z0-9]+",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config=analysis_config,
    script:
        "../scripts/tracklets_video.py"


rule outliers_raw:
    input:
        user_targets("outliers_raw"),


rule extract_raw_outliers:
    input:
        unpack(raw_outlier_inputs),
    output:
        "{project}/labeled-data/{video}/.dlcflow-raw-outliers-iter{iteration}.json",
    log:
        "{project}/logs/outliers_raw/iteration-{iteration}-{video}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        options=setting("outliers_raw"),
    script:
        "../scripts/extract_raw_outliers.py"
