rule train:
    input:
        user_targets("train"),


rule train_network:
    input:
        pose_cfg="{project}/dlc-models/iteration-{iteration}/{model}/train/pose_cfg.yaml",
    output:
        "{project}/dlc-models/iteration-{iteration}/{model}/train/snapshot-{maxiters}.index",
    log:
        "{project}/logs/train/iteration-{iteration}-{model}-{maxiters}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=1440,
    params:
        saveiters=setting("saveiters"),
        displayiters=setting("displayiters"),
        max_snapshots_to_keep=setting("max_snapshots_to_keep"),
    script:
        "../scripts/train_network.py"
