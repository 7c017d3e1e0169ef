"""The ``dlcflow`` subcommands of 3D poses: triangulate the 2D poses of a rig's cameras,
filter the 3D poses."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import Command

CONFIG3D_HELP = "the 3D project's config.yaml"


def _triangulate(args: argparse.Namespace) -> None:
    from dlcflow.threed.triangulate import triangulate, triangulate_files

    if args.poses:
        print(
            triangulate_files(
                args.config,
                args.poses,
                args.out,
                save_as_csv=args.csv,
                ransac=args.ransac,
                optimize=args.optimize,
                threshold_px=args.threshold,
            )
        )
        return
    if args.out:
        raise ValueError("--out names the output of --poses; with --videos use --destfolder")
    for path in triangulate(
        args.config,
        args.videos,
        videotype=args.videotype,
        filterpredictions=not args.no_filter,
        filtertype=args.filtertype,
        destfolder=args.destfolder,
        save_as_csv=args.csv,
        ransac=args.ransac,
        optimize=args.optimize,
    ):
        print(path)


def _triangulate_args(p: argparse.ArgumentParser) -> None:
    """triangulate the 2D poses of every camera into 3D poses (<recording>_DLC_3D.h5)"""
    p.add_argument("config", help=CONFIG3D_HELP)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--poses", nargs="+", metavar="POSE_H5", help="2D pose files, one per camera, in order"
    )
    source.add_argument(
        "--videos", nargs="+", metavar="VIDEO", help="videos or folders (analyzed if needed)"
    )
    p.add_argument("--out", help="--poses: the 3D file (default: <recording>_DLC_3D.h5 beside)")
    p.add_argument("--videotype", default="", help="--videos: video extension in folders")
    p.add_argument("--destfolder", default=None, help="--videos: folder of the outputs")
    p.add_argument(
        "--no-filter", action="store_true", help="--videos: do not filter the 2D predictions"
    )
    p.add_argument(
        "--filtertype", default="median", choices=["median", "arima", "spline"], help="2D filter"
    )
    p.add_argument("--ransac", action="store_true", help="drop views that disagree (RANSAC)")
    p.add_argument("--threshold", type=float, default=10.0, help="RANSAC inlier threshold (px)")
    p.add_argument(
        "--optimize", action="store_true", help="refine with smoothness and limb lengths"
    )
    p.add_argument("--csv", action="store_true", help="also write the csv")


def _filter_3d(args: argparse.Namespace) -> None:
    from dlcflow.threed.filter3d import filter_3d

    print(
        filter_3d(
            args.h5,
            windowlength=args.windowlength,
            max_error=None if args.max_error <= 0 else args.max_error,
            min_ncams=args.min_ncams,
            max_gap=args.max_gap,
            out=args.out,
            save_as_csv=args.csv,
        )
    )


def _filter_3d_args(p: argparse.ArgumentParser) -> None:
    """filter 3D poses: drop points of large reprojection error, median, fill gaps"""
    p.add_argument("h5", help="3D poses, <recording>_DLC_3D.h5")
    p.add_argument("--windowlength", type=int, default=5, help="median window (frames)")
    p.add_argument(
        "--max-error", type=float, default=20.0, help="drop points over this error (px; 0: keep)"
    )
    p.add_argument("--min-ncams", type=int, default=2, help="drop points seen by fewer cameras")
    p.add_argument("--max-gap", type=int, default=10, help="fill gaps up to this many frames")
    p.add_argument("--out", help="output (default: <h5 stem>_filtered.h5)")
    p.add_argument("--csv", action="store_true", help="also write the csv")


COMMANDS: tuple[Command, ...] = (
    ("triangulate", _triangulate, _triangulate_args),
    ("filter-3d", _filter_3d, _filter_3d_args),
)
