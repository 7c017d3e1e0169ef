"""The ``dlcflow`` subcommands of the multi-animal stages on files: assemble, track, stitch.

Each reads DLC's file of the stage before (a user's own DLC files work as they are) and
writes DLC's file of its stage beside it, or at ``--out``. The settings come from the
model's ``inference_cfg.yaml`` (found from the scorer in the file name), DLC's defaults
otherwise; ``--inference-cfg`` names another, and the options override single values.
"""

from __future__ import annotations

import argparse
from typing import Any

from dlcflow.cli.common import CONFIG_HELP, Command

SETTINGS_HELP = "inference_cfg.yaml to use (default: the model's, else DLC's defaults)"


def _set(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The options given on the command line (None = not given) as keyword overrides."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _assemble(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import assemble_file

    overrides = _set(args, ("pcutoff", "min_affinity", "min_n_links", "max_n_individuals"))
    print(
        assemble_file(
            args.config,
            args.full_pickle,
            args.out,
            inference_cfg=args.inference_cfg,
            calibrate=args.calibrate,
            identity_only=args.identity_only,
            **overrides,
        )
    )


def _assemble_args(p: argparse.ArgumentParser) -> None:
    """assemble a _full.pickle's detections into animals (_assemblies.pickle)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("full_pickle", help="detections, <video><scorer>_full.pickle")
    p.add_argument("--out", help="output (default: <video><scorer>_assemblies.pickle beside it)")
    p.add_argument("--inference-cfg", help=SETTINGS_HELP)
    p.add_argument(
        "--calibrate", action="store_true", help="weigh links by the labeled poses' lengths"
    )
    p.add_argument(
        "--identity-only", action="store_true", help="group by the identity channels only"
    )
    p.add_argument("--pcutoff", type=float, help="least detection confidence (default: cfg)")
    p.add_argument("--min-affinity", type=float, help="least link affinity (default: cfg)")
    p.add_argument("--min-n-links", type=int, help="least links per animal (default: cfg)")
    p.add_argument("--max-n-individuals", type=int, help="animals per frame (default: cfg)")


def _track(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import track_file

    overrides = _set(args, ("max_age", "min_hits", "iou_threshold"))
    print(
        track_file(
            args.config,
            args.assemblies_pickle,
            args.method or "",
            args.out,
            inference_cfg=args.inference_cfg,
            **overrides,
        )
    )


def _track_args(p: argparse.ArgumentParser) -> None:
    """link assemblies over time into tracklets (_el/_bx/_sk.pickle)"""
    from dlcflow.project.paths import TRACKER_SUFFIXES

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("assemblies_pickle", help="assemblies, <video><scorer>_assemblies.pickle")
    p.add_argument(
        "--method",
        choices=list(TRACKER_SUFFIXES),
        help="tracker (default: the config's default_track_method)",
    )
    p.add_argument("--out", help="output (default: <video><scorer>_el.pickle etc. beside it)")
    p.add_argument("--inference-cfg", help=SETTINGS_HELP)
    p.add_argument("--max-age", type=int, help="frames a lost track is kept (default: cfg)")
    p.add_argument("--min-hits", type=int, help="matches before a track counts (default: cfg)")
    p.add_argument("--iou-threshold", type=float, help="least similarity (default: cfg)")


def _stitch(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import stitch_file

    overrides = _set(args, ("min_length", "max_gap"))
    print(
        stitch_file(
            args.config,
            args.tracklets_pickle,
            args.n_tracks,
            args.out,
            animal_names=args.animal_names,
            save_as_csv=args.save_as_csv,
            **overrides,
        )
    )


def _stitch_args(p: argparse.ArgumentParser) -> None:
    """stitch tracklets into one track per animal (_el.h5)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("tracklets_pickle", help="tracklets, <video><scorer>_el.pickle (_bx, _sk)")
    p.add_argument("--n-tracks", type=int, help="tracks (default: the config's individuals)")
    p.add_argument("--min-length", type=int, help="shortest tracklet kept whole (default: 10)")
    p.add_argument("--max-gap", type=int, help="longest gap bridged (default: from the data)")
    p.add_argument("--animal-names", nargs="+", help="track names (default: the individuals)")
    p.add_argument("--save-as-csv", action="store_true", help="also write a .csv")
    p.add_argument("--out", help="output (default: <video><scorer>_el.h5 beside it)")


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("assemble", _assemble, _assemble_args),
    ("track", _track, _track_args),
    ("stitch", _stitch, _stitch_args),
)
