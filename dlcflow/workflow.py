"""What the Snakemake rules ask of a project: target files per stage and their inputs.

rules/common.smk calls these from its input functions; keeping them here keeps the
logic typed and unit-tested, and the .smk files declarative.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import jsonschema
import yaml

from dlcflow.project import Project

STAGES = ("frames", "check_labels", "dataset")


class MissingLabelsError(RuntimeError):
    """A labeled-data folder holds frames but no CollectedData (one line, says what to run)."""


def has_frames(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.png"))


def label_command(project: Project) -> str:
    return f"dlcflow label {project.config_path}"


def annotated_stems(project: Project, oracle: bool = False) -> list[str]:
    """labeled-data folders the training dataset is built from.

    With ``oracle`` (the demo) every video_sets video is labeled by a rule, so all of them
    count. Otherwise these are the folders that hold CollectedData, as DLC does; a folder
    with frames but no CollectedData stops the workflow with a message naming the video
    and the command that labels it.
    """
    if oracle:
        return project.video_stems()
    stems, unlabeled = [], []
    for folder in project.labeled_folders():
        if project.collected_data(folder.name).is_file():
            stems.append(folder.name)
        elif has_frames(folder):
            unlabeled.append(folder.name)
    if unlabeled:
        raise MissingLabelsError(
            f"labeled-data/{unlabeled[0]} has frames but no "
            f"{project.collected_data(unlabeled[0]).name}"
            + (f" (and {len(unlabeled) - 1} more folders)" if len(unlabeled) > 1 else "")
            + f": label them with `{label_command(project)}`"
        )
    if not stems:
        raise MissingLabelsError(
            f"{project.config_path}: no labeled frames yet: run `snakemake frames`, then "
            f"`{label_command(project)}`"
        )
    return stems


def frames_input(project: Project, stem: str) -> list[str]:
    """The video a frames job reads. None when the video is gone but its folder holds
    frames already (a DLC project copied without its videos still lists its frames)."""
    video = project.resolve_video(project.video_key_for_stem(stem))
    if not video.exists() and has_frames(project.labeled_folder(stem)):
        return []
    return [str(video)]


def labels_inputs(project: Project, oracle: bool = False) -> list[str]:
    return [str(project.collected_data(s)) for s in annotated_stems(project, oracle)]


def stage_targets(
    project: Project, stage: str, shuffles: Sequence[int], oracle: bool = False
) -> list[str]:
    """Files that stand for a finished stage of ``project``."""
    if stage == "frames":
        return [str(project.frames_manifest(s)) for s in project.video_stems()]
    if stage == "check_labels":
        return [str(project.check_labels_folder(s)) for s in annotated_stems(project, oracle)]
    if stage == "dataset":
        return [
            str(project.pose_cfg(fraction, shuffle, kind))
            for fraction in project.training_fractions
            for shuffle in shuffles
            for kind in ("train", "test")
        ]
    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")


def validate_config(config: dict, schema_file: str | Path, where: str = "workflow config") -> None:
    """Check the workflow config against its JSON schema; raise one line naming the key.

    Unknown keys are errors (a typo would otherwise be ignored silently) and the message
    names the closest known key.
    """
    schema = yaml.safe_load(Path(schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties":
        sub = schema
        for part in err.absolute_path:
            sub = sub["properties"][part]
        known = sorted(sub.get("properties", {}))
        unknown = sorted(set(err.instance) - set(known))
        name = f"{path}.{unknown[0]}" if path else unknown[0]
        close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"
        raise ValueError(f"{where}: unknown key '{name}'{hint}")
    raise ValueError(f"{where}: key '{path or '(top level)'}': {err.message}")
