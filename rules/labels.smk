rule check_labels:
    input:
        user_targets("check_labels"),


rule plot_labels:
    input:
        labels=collected_data,
    output:
        directory("{project}/labeled-data/{video}_labeled"),
    log:
        "{project}/logs/check_labels/{video}.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/check_labels.py"
