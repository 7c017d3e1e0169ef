rule dataset:
    input:
        user_targets("dataset"),


rule training_dataset:
    input:
        labels=dataset_labels,
    output:
        train="{project}/dlc-models/iteration-{iteration}/{model}/train/pose_cfg.yaml",
        test="{project}/dlc-models/iteration-{iteration}/{model}/test/pose_cfg.yaml",
    log:
        "{project}/logs/dataset/iteration-{iteration}-{model}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        net_type=dataset_setting("net_type"),
        augmenter_type=config["augmenter_type"],
        init_weights=dataset_setting("init_weights"),
        bodyparts=body_parts,
    script:
        "../scripts/training_dataset.py"
