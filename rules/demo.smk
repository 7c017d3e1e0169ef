rule demo:
    input:
        demo_targets,
        DEMO_REPORT,


rule demo_report:
    input:
        unpack(demo_report_inputs),
    output:
        DEMO_REPORT,
    log:
        str(DEMO_DIR / "logs" / "demo_report.log"),
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/demo_report.py"


checkpoint demo_project:
    output:
        pointer=DEMO_POINTER,
    log:
        str(DEMO_DIR / "logs" / "demo_project.log"),
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        n_videos=config["demo"]["n_videos"],
        nframes=config["demo"]["nframes"],
        numframes2pick=config["demo"]["numframes2pick"],
        seed=config["demo"]["seed"],
        n_test_videos=config["demo"]["n_test_videos"],
    script:
        "../scripts/demo_project.py"


checkpoint demo_merge:
    input:
        unpack(demo_merge_inputs),
    output:
        DEMO_MERGED,
    log:
        str(DEMO_DIR / "logs" / "demo_merge.log"),
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/demo_merge.py"


rule oracle_labels:
    input:
        frames=oracle_frames,
        groundtruth=groundtruth,
    output:
        h5="{project}/labeled-data/{video}/CollectedData_{scorer}.h5",
        csv="{project}/labeled-data/{video}/CollectedData_{scorer}.csv",
    log:
        "{project}/logs/oracle/{video}-{scorer}.log",
    wildcard_constraints:
        project=re.escape(str(DEMO_DIR)) + r"[/][^/]+",
        scorer=r"[^/]+",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/oracle_labels.py"
