rule dataset:
    input:
        user_targets("dataset"),


rule training_dataset:
    input:
        labels=dataset_labels,
        init_snapshot=init_snapshot,
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
        net_type=net_type,
        augmenter_type=augmenter_type,
        pose_cfg=setting("pose_cfg"),
        test_pose_cfg=setting("test_pose_cfg"),
        init_weights=init_weights,
        bodyparts=body_parts,
    script:
        "../scripts/training_dataset.py"
