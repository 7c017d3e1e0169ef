rule export_onnx:
    input:
        snapshot="{project}/dlc-models/iteration-{iteration}/{model}/train/snapshot-{maxiters}.index",
        pose_cfg="{project}/dlc-models/iteration-{iteration}/{model}/test/pose_cfg.yaml",
    output:
        "{project}/dlc-models/iteration-{iteration}/{model}/train/snapshot-{maxiters}.onnx",
    log:
        "{project}/logs/export/iteration-{iteration}-{model}-{maxiters}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/export_onnx.py"
