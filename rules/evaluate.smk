rule evaluate:
    input:
        user_targets("evaluate"),


rule evaluate_network:
    input:
        snapshot=evaluation_snapshot,
        pose_cfg="{project}/dlc-models/iteration-{iteration}/{model}/test/pose_cfg.yaml",
    output:
        # evaluation-results, or the project's eval_prefix (Project.evaluation_folder)
        "{project}/{evalfolder}/iteration-{iteration}/{model}/{scorer}-results.csv",
    log:
        "{project}/logs/{evalfolder}/iteration-{iteration}-{model}-{scorer}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        plotting=setting("plotting"),
        calibrate=setting("calibrate"),
    script:
        "../scripts/evaluate_network.py"


rule maps:
    input:
        user_targets("maps"),


rule extract_maps:
    input:
        snapshot=maps_snapshot,
        pose_cfg="{project}/dlc-models/iteration-{iteration}/{model}/test/pose_cfg.yaml",
    output:
        # score maps, locref and PAF images of every labeled frame (Project.evaluation_maps)
        directory("{project}/{evalfolder}/iteration-{iteration}/{model}/maps"),
    log:
        "{project}/logs/{evalfolder}/iteration-{iteration}-{model}-maps.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/extract_maps.py"


rule model_comparison:
    input:
        comparison_results,
    output:
        "{project}/{evalfolder}/iteration-{iteration}/training_model_comparison.csv",
    log:
        "{project}/logs/{evalfolder}/iteration-{iteration}-model-comparison.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        maxiters=setting("maxiters"),
    script:
        "../scripts/model_comparison.py"
