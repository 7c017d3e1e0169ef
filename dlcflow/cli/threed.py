"""The ``dlcflow`` subcommands of 3D projects: create one, calibrate its cameras."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import Command


def _create(args: argparse.Namespace) -> None:
    from dlcflow.project.project3d import create_new_project_3d

    print(
        create_new_project_3d(
            args.name,
            args.experimenter,
            num_cameras=args.num_cameras,
            working_directory=args.working_directory,
            camera_names=args.camera_names,
        )
    )


def _create_args(p: argparse.ArgumentParser) -> None:
    """create a 3D project (DLC's layout: calibration_images/, camera_matrix/, ...)"""
    p.add_argument("name", help="the project's name")
    p.add_argument("experimenter", help="the experimenter's name")
    p.add_argument("--num-cameras", type=int, default=2, help="cameras (camera-1, camera-2, ...)")
    p.add_argument("--camera-names", nargs="+", help="the cameras' names (default: camera-N)")
    p.add_argument("--working-directory", help="where to create it (default: here)")


def _calibrate(args: argparse.Namespace) -> None:
    from dlcflow.threed.calibrate import calibrate_cameras

    charuco = None
    if args.board == "charuco":
        charuco = {}
        if args.charuco_squares:
            charuco["squares_x"], charuco["squares_y"] = args.charuco_squares
        if args.marker_length is not None:
            charuco["marker_length"] = args.marker_length
        charuco["dictionary"] = args.dictionary
    out = calibrate_cameras(
        args.config,
        cbrow=args.cbrow,
        cbcol=args.cbcol,
        calibrate=not args.detect_only,
        alpha=args.alpha,
        square_size=args.square_size,
        board=args.board,
        charuco=charuco,
        bundle=not args.no_bundle,
    )
    if out is not None:
        print(out)


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    """calibrate a 3D project's cameras from its calibration_images/"""
    p.add_argument("config", help="the 3D project's config.yaml")
    p.add_argument("--board", choices=("checkerboard", "charuco"), default="checkerboard")
    p.add_argument("--cbrow", type=int, default=8, help="checkerboard inner corners a column")
    p.add_argument("--cbcol", type=int, default=6, help="checkerboard inner corners a row")
    p.add_argument("--square-size", type=float, help="square size in mm (default: 1 square)")
    p.add_argument(
        "--charuco-squares",
        type=int,
        nargs=2,
        metavar=("X", "Y"),
        help="ChArUco squares (default: 7 5)",
    )
    p.add_argument(
        "--marker-length",
        type=float,
        help="ChArUco marker side, the square size's unit (default: 0.75 square)",
    )
    p.add_argument("--dictionary", default="DICT_4X4_50", help="ChArUco's ArUco dictionary")
    p.add_argument("--alpha", type=float, default=0.4, help="stereoRectify's free scaling")
    p.add_argument("--no-bundle", action="store_true", help="skip the bundle adjustment")
    p.add_argument(
        "--detect-only",
        action="store_true",
        help="only find and draw the corners (DLC's first pass)",
    )


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("create-project-3d", _create, _create_args),
    ("calibrate", _calibrate, _calibrate_args),
)
