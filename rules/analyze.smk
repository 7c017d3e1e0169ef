rule analyze:
    input:
        user_targets("analyze"),


rule analyze_video:
    input:
        unpack(analysis_inputs),
    output:
        h5="{folder}/{stem}{scorer}.h5",
        meta="{folder}/{stem}{scorer}_meta.pickle",
    log:
        "logs/analyze{folder}/{stem}{scorer}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        config=analysis_config,
        save_as_csv=analysis_setting("save_as_csv"),
        trainingsetindex=analysis_setting("trainingsetindex"),
        engine=analysis_setting("engine"),
    script:
        "../scripts/analyze_video.py"
