"""What the ``dlcflow`` subcommands share: help texts and argument groups."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], None]
#: A subcommand: its name, what it runs, its arguments (whose docstring is its help).
Command = tuple[str, Run, Arguments]

CONFIG_HELP = "the project's config.yaml"
ENGINE_HELP = "auto: ONNX Runtime when the snapshot's ONNX export exists, else TensorFlow"


def workflow_defaults(options: type) -> dict[str, Any]:
    """The defaults of an options class as the workflow has them (its config section in
    config/config.yaml, which tests/test_options.py holds to the class): the fields'
    defaults, with the section's own (``CONFIG_DEFAULTS``) over them."""
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    return {**defaults, **options.CONFIG_DEFAULTS}


def model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shuffle", type=int, default=1, help="shuffle of the model")
    p.add_argument("--trainingsetindex", type=int, default=0, help="index into TrainingFraction")


def video_args(
    p: argparse.ArgumentParser,
    videos: str = "analyzed video files or folders",
    tracks: bool = True,
    folders: bool = True,
) -> None:
    """CONFIG, VIDEO... and the options that find a video's pose file (``--videotype``
    where ``folders`` of videos are accepted)."""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help=videos)
    if folders:
        p.add_argument("--videotype", default="", help="video extension in folders (default: any)")
    model_args(p)
    p.add_argument(
        "--destfolder", default=None, help="folder of the pose files (default: beside each video)"
    )
    if not tracks:
        return
    p.add_argument(
        "--track-method",
        default="",
        choices=["", "ellipse", "box", "skeleton"],
        help="multi-animal: the tracks to use (default: the config's default_track_method)",
    )


def analysis_args(args: argparse.Namespace) -> dict[str, object]:
    keys = ("videotype", "shuffle", "trainingsetindex", "destfolder", "track_method")
    return {key: getattr(args, key) for key in keys}
