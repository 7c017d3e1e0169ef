# The synthetic demos: `demo` (one mouse), `demo_multianimal` (look-alike mice) and
# `demo_3d` (rules/threed.smk). Each writes into its own outdir ({demo_dir}); the rules
# below serve all (report and merge: the two that refine).
rule demo:
    input:
        demo_targets("demo"),


rule demo_multianimal:
    input:
        demo_targets("demo_multianimal"),


rule demo_report:
    input:
        unpack(demo_report_inputs),
    output:
        "{demo_dir}/report.txt",
    log:
        "{demo_dir}/logs/demo_report.log",
    wildcard_constraints:
        demo_dir=REFINING_DIRS,
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        kinematics=config["kinematics"],
    script:
        "../scripts/demo_report.py"


checkpoint demo_project:
    output:
        pointer="{demo_dir}/project.txt",
    log:
        "{demo_dir}/logs/demo_project.log",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        name=demo_name,
        n_videos=demo_param("n_videos"),
        nframes=demo_param("nframes"),
        numframes2pick=demo_param("numframes2pick"),
        seed=demo_param("seed"),
        n_test_videos=demo_param("n_test_videos"),
        n_animals=demo_param("n_animals"),
        board=demo_board,
    script:
        "../scripts/demo_project.py"


checkpoint demo_merge:
    input:
        unpack(demo_merge_inputs),
    output:
        "{demo_dir}/merged.txt",
    log:
        "{demo_dir}/logs/demo_merge.log",
    wildcard_constraints:
        demo_dir=REFINING_DIRS,
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
        project=f"({DEMO_DIRS})[/][^/]+",
        scorer=r"[^/]+",
    conda:
        "../envs/dlcflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/oracle_labels.py"
