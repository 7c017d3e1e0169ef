"""The ``dlcflow`` subcommands of 3D projects: create one, calibrate its cameras, check the
undistortion."""

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


def _charuco(args: argparse.Namespace) -> dict[str, object] | None:
    """The ChArUco board's settings of the command line (None for a checkerboard)."""
    if args.board != "charuco":
        return None
    charuco: dict[str, object] = {"dictionary": args.dictionary}
    if args.charuco_squares:
        charuco["squares_x"], charuco["squares_y"] = args.charuco_squares
    if args.marker_length is not None:
        charuco["marker_length"] = args.marker_length
    return charuco


def _calibrate(args: argparse.Namespace) -> None:
    from dlcflow.threed.calibrate import calibrate_cameras

    out = calibrate_cameras(
        args.config,
        cbrow=args.cbrow,
        cbcol=args.cbcol,
        calibrate=not args.detect_only,
        alpha=args.alpha,
        square_size=args.square_size,
        board=args.board,
        charuco=_charuco(args),
        bundle=not args.no_bundle,
        bundle_intrinsics=not args.fix_intrinsics,
    )
    if out is not None:
        print(out)


def _board_args(p: argparse.ArgumentParser) -> None:
    """The 3D config and the board's options (calibrate, check-undistortion)."""
    p.add_argument("config", help="the 3D project's config.yaml")
    p.add_argument(
        "--board", choices=("checkerboard", "charuco"), default="checkerboard", help="the board"
    )
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


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    """calibrate a 3D project's cameras from its calibration_images/"""
    _board_args(p)
    p.add_argument("--alpha", type=float, default=0.4, help="stereoRectify's free scaling")
    p.add_argument("--no-bundle", action="store_true", help="skip the bundle adjustment")
    p.add_argument(
        "--fix-intrinsics",
        action="store_true",
        help="bundle-adjust poses only, keeping calibrateCamera's intrinsics",
    )
    p.add_argument(
        "--detect-only",
        action="store_true",
        help="only find and draw the corners (DLC's first pass)",
    )


def _check(args: argparse.Namespace) -> None:
    from dlcflow.threed.calibrate import check_undistortion

    print(
        check_undistortion(
            args.config,
            cbrow=args.cbrow,
            cbcol=args.cbcol,
            board=args.board,
            charuco=_charuco(args),
            square_size=args.square_size,
        )
    )


def _check_args(p: argparse.ArgumentParser) -> None:
    """undistort the calibration images (undistortion/) and plot the triangulated corners"""
    _board_args(p)


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("create-project-3d", _create, _create_args),
    ("calibrate", _calibrate, _calibrate_args),
    ("check-undistortion", _check, _check_args),
)
