"""The ``dlcflow`` subcommands that show a 3D project's outputs: the labeled 3D video and
the 3D trajectory plot of each triangulated file (DLC 2.3's ``create_labeled_video_3d``)."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import Command

CONFIG3D_HELP = "the 3D project's config.yaml"
PATH_HELP = "3D pose files (<recording>_DLC_3D.h5) or folders of them"


def _labeled_video_3d(args: argparse.Namespace) -> None:
    from dlcflow.threed.labeled import create_labeled_video_3d

    for path in create_labeled_video_3d(
        args.config,
        args.path,
        videofolder=args.videofolder,
        start=args.start,
        end=args.end,
        trailpoints=args.trailpoints,
        videotype=args.videotype,
        view=tuple(args.view),
        xlim=args.xlim,
        ylim=args.ylim,
        zlim=args.zlim,
        draw_skeleton=args.draw_skeleton,
        color_by=args.color_by,
        overwrite=args.overwrite,
    ):
        print(path)


def _labeled_video_3d_args(p: argparse.ArgumentParser) -> None:
    """every camera view with its 2D points beside the 3D points (<3D file>_labeled3d.mp4)"""
    from dlcflow.plots.labeled3d import DEFAULT_VIEW

    p.add_argument("config", help=CONFIG3D_HELP)
    p.add_argument("path", nargs="+", help=PATH_HELP)
    p.add_argument("--videofolder", help="folder of the views' videos (default: the 3D file's)")
    p.add_argument("--videotype", default="", help="video extension (default: any)")
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--end", type=int, default=None, help="frame after the last (default: all)")
    p.add_argument("--trailpoints", type=int, default=0, help="previous frames' points shown")
    p.add_argument(
        "--view",
        nargs=2,
        type=float,
        default=list(DEFAULT_VIEW),
        metavar=("ELEV", "AZIM"),
        help="elevation and azimuth of the 3D view in degrees",
    )
    for axis in "xyz":
        p.add_argument(
            f"--{axis}lim",
            nargs=2,
            type=float,
            metavar=("MIN", "MAX"),
            help=f"{axis} limits of the 3D view (default: from the data)",
        )
    p.add_argument(
        "--skeleton",
        dest="draw_skeleton",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw the config's skeleton",
    )
    p.add_argument(
        "--color-by",
        choices=["bodypart", "individual"],
        default=None,
        help="colour per body part or per animal (default: animals in multi-animal files)",
    )
    p.add_argument("--overwrite", action="store_true", help="redraw videos that exist")


def _plot_trajectories_3d(args: argparse.Namespace) -> None:
    from dlcflow.threed.labeled import plot_trajectories_3d

    for path in plot_trajectories_3d(args.config, args.path, bodyparts=args.bodyparts):
        print(path)


def _plot_trajectories_3d_args(p: argparse.ArgumentParser) -> None:
    """plot the 3D trajectories and x, y, z over time (<3D file>_trajectories3d.png)"""
    p.add_argument("config", help=CONFIG3D_HELP)
    p.add_argument("path", nargs="+", help=PATH_HELP)
    p.add_argument("--bodyparts", nargs="+", help="body parts to plot (default: all)")


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("labeled-video-3d", _labeled_video_3d, _labeled_video_3d_args),
    ("plot-trajectories-3d", _plot_trajectories_3d, _plot_trajectories_3d_args),
)
