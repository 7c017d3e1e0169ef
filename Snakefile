# dlcflow: markerless pose estimation the DeepLabCut way.
#   snakemake --cores 2 demo
#   snakemake --cores 2 dataset --config project=/path/to/config.yaml
#   snakemake --cores 2 triangulate --config project3d=/path/to/3d/config.yaml
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


# The defaults ship with the workflow; --configfile/--config override them.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"
include: "rules/frames.smk"
include: "rules/labels.smk"
include: "rules/dataset.smk"
include: "rules/train.smk"
include: "rules/export.smk"
include: "rules/evaluate.smk"
include: "rules/analyze.smk"
include: "rules/tracking.smk"
include: "rules/postprocess.smk"
include: "rules/demo.smk"
include: "rules/threed.smk"


rule all:
    default_target: True
    input:
        user_targets("frames"),
        user_targets("check_labels"),
        user_targets("dataset"),
        user_targets("train"),
        user_targets("evaluate"),
        user_targets("analyze"),
        user_targets("filter"),
        user_targets("plots"),
        user_targets("labeled_videos"),
        user_targets("skeleton"),


onerror:
    # the cause of each failed job in one line, last, where the eye lands
    for line in failure_summary(log):
        print(line, file=sys.stderr)
