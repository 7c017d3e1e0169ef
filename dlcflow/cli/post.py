"""The ``dlcflow`` subcommands on pose files: filters, plots, labeled videos, outliers."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import Command, analysis_args, video_args, workflow_defaults


def _filter(args: argparse.Namespace) -> None:
    from dlcflow.post.filters import FilterOptions, filterpredictions

    options = FilterOptions(
        filtertype=args.filtertype,
        windowlength=args.windowlength,
        p_bound=args.p_bound,
        ARdegree=args.ARdegree,
        MAdegree=args.MAdegree,
        save_as_csv=args.save_as_csv,
    )
    for path in filterpredictions(
        args.config, args.videos, **analysis_args(args), overwrite=args.overwrite, options=options
    ):
        print(path)


def _filter_args(p: argparse.ArgumentParser) -> None:
    """filter pose files (median, arima, spline)"""
    from dlcflow.post.filters import FILTERTYPES, FilterOptions  # (heavy: only for this one)

    defaults = workflow_defaults(FilterOptions)
    video_args(p)
    p.add_argument(
        "--filtertype", choices=FILTERTYPES, default=defaults["filtertype"], help="the filter"
    )
    window = "median/spline window in frames"
    p.add_argument("--windowlength", type=int, default=defaults["windowlength"], help=window)
    bound = "arima: likelihood under it is missing"
    p.add_argument("--p-bound", type=float, default=defaults["p_bound"], help=bound)
    p.add_argument("--ARdegree", type=int, default=defaults["ARdegree"], help="arima: AR order")
    p.add_argument("--MAdegree", type=int, default=defaults["MAdegree"], help="arima: MA order")
    csv, both = defaults["save_as_csv"], argparse.BooleanOptionalAction
    p.add_argument("--save-as-csv", action=both, default=csv, help="also write a .csv")
    p.add_argument("--no-csv", dest="save_as_csv", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--overwrite", action="store_true", help="filter again where done")


def _plot_trajectories(args: argparse.Namespace) -> None:
    from dlcflow.plots.poses import plot_trajectories

    for folder in plot_trajectories(
        args.config,
        args.videos,
        **analysis_args(args),
        filtered=args.filtered,
        displayedbodyparts=args.bodyparts or "all",
    ):
        print(folder)


def _plot_trajectories_args(p: argparse.ArgumentParser) -> None:
    """trajectory plots into plot-poses/<video>/"""
    video_args(p)
    p.add_argument("--filtered", action="store_true", help="plot the filtered data")
    p.add_argument("--bodyparts", nargs="+", help="body parts to show (default: all)")


def _labeled_video(args: argparse.Namespace) -> None:
    from dlcflow.plots.poses import LabeledVideoOptions, create_labeled_video

    options = LabeledVideoOptions(
        draw_skeleton=args.draw_skeleton,
        trailpoints=args.trailpoints,
        keypoints_only=args.keypoints_only,
        displayedbodyparts=args.bodyparts or "all",
        displaycropped=args.displaycropped,
        confidence_to_alpha=args.confidence_to_alpha,
        outputframerate=args.outputframerate,
        color_by=args.color_by,
        track_ids=args.track_ids,
    )
    for path in create_labeled_video(
        args.config,
        args.videos,
        **analysis_args(args),
        filtered=args.filtered,
        overwrite=args.overwrite,
        options=options,
    ):
        print(path)


def _labeled_video_args(p: argparse.ArgumentParser) -> None:
    """draw the predictions onto the videos"""
    from dlcflow.plots.poses import LabeledVideoOptions  # (heavy: only for this subcommand)

    defaults = workflow_defaults(LabeledVideoOptions)
    video_args(p)
    p.add_argument("--filtered", action="store_true", help="draw the filtered data")
    skeleton, both = defaults["draw_skeleton"], argparse.BooleanOptionalAction
    p.add_argument("--draw-skeleton", action=both, default=skeleton, help="draw the skeleton")
    trail = "points of that many previous frames"
    p.add_argument("--trailpoints", type=int, default=defaults["trailpoints"], help=trail)
    black = defaults["keypoints_only"]
    p.add_argument("--keypoints-only", action="store_true", default=black, help="on black frames")
    p.add_argument("--bodyparts", nargs="+", help="body parts to show (default: all)")
    p.add_argument("--displaycropped", action="store_true", help="show the analysis crop only")
    fade = defaults["confidence_to_alpha"]
    p.add_argument(
        "--confidence-to-alpha", action="store_true", default=fade, help="fade unsure points"
    )
    rate = "frame rate of the labeled video (default: the video's)"
    p.add_argument("--outputframerate", type=float, default=defaults["outputframerate"], help=rate)
    p.add_argument("--overwrite", action="store_true", help="redraw existing videos")
    colors = "multi-animal: a colour per body part or per individual"
    p.add_argument(
        "--color-by", choices=["bodypart", "individual"], default=defaults["color_by"], help=colors
    )
    ids = "multi-animal: write each track's name above its animal"
    p.add_argument("--track-ids", action="store_true", default=defaults["track_ids"], help=ids)


def _analyze_skeleton(args: argparse.Namespace) -> None:
    from dlcflow.post.filters import analyzeskeleton

    for path in analyzeskeleton(
        args.config,
        args.videos,
        **analysis_args(args),
        filtered=args.filtered,
        save_as_csv=args.save_as_csv,
        overwrite=args.overwrite,
    ):
        print(path)


def _analyze_skeleton_args(p: argparse.ArgumentParser) -> None:
    """bone lengths and orientations per frame"""
    video_args(p)
    p.add_argument("--filtered", action="store_true", help="from the filtered data")
    p.add_argument("--save-as-csv", action="store_true", help="also write a .csv")
    p.add_argument("--overwrite", action="store_true", help="compute again where done")


def _extract_outliers(args: argparse.Namespace) -> None:
    from dlcflow.post.outliers import OutlierOptions, extract_outlier_frames

    options = OutlierOptions(
        outlieralgorithm=args.algo,
        frames2use=args.frames,
        comparisonbodyparts=args.bodyparts or "all",
        epsilon=args.epsilon,
        p_bound=args.p_bound,
        extractionalgorithm=args.extraction,
    )
    frames = extract_outlier_frames(
        args.config, args.videos, **analysis_args(args), options=options
    )
    print(f"{len(frames)} outlier frames extracted")


def _extract_outliers_args(p: argparse.ArgumentParser) -> None:
    """frames to refine (the `outliers` target)"""
    from dlcflow.post.outliers import OutlierOptions  # (heavy: only for this subcommand)

    defaults = workflow_defaults(OutlierOptions)
    video_args(p)
    algos = ["jump", "uncertain", "fitting", "list"]
    p.add_argument(
        "--algo", choices=algos, default=defaults["outlieralgorithm"], help="what is an outlier"
    )
    p.add_argument(
        "--frames", type=int, nargs="+", help="the frames of --algo list (default: none)"
    )
    p.add_argument("--bodyparts", nargs="+", help="comparisonbodyparts (default: all)")
    p.add_argument(
        "--epsilon", type=float, default=defaults["epsilon"], help="jump: distance in px"
    )
    bound = "uncertain: likelihood under it"
    p.add_argument("--p-bound", type=float, default=defaults["p_bound"], help=bound)
    pick = defaults["extractionalgorithm"]
    p.add_argument("--extraction", choices=["kmeans", "uniform"], default=pick, help="frame choice")


def _kinematics(args: argparse.Namespace) -> None:
    from dlcflow.plots.kinematics import plot_kinematics
    from dlcflow.post.kinematics import KinematicsOptions
    from dlcflow.post.kinematicsfiles import compute_kinematics, kinematics_files
    from dlcflow.project.paths import Project

    options = KinematicsOptions(
        pcutoff=args.pcutoff,
        max_gap=args.max_gap,
        window=args.window,
        polyorder=args.polyorder,
        centre=tuple(args.centre or ()),
        pairs=tuple(tuple(p) for p in args.pair or ()),
        angles=tuple(tuple(a) for a in args.angle or ()),
        heading=tuple(args.heading or ()),
        freeze_speed=args.freeze_speed,
        min_freeze_s=args.min_freeze_s,
        move_speed=args.move_speed,
        min_move_s=args.min_move_s,
        pixels_per_mm=args.pixels_per_mm,
        fps=args.fps,
        filtered=args.filtered,
        save_as_csv=args.save_as_csv,
    )
    files = [v for v in args.videos if v.lower().endswith(".h5")]
    videos = [v for v in args.videos if not v.lower().endswith(".h5")]
    written = kinematics_files(args.config, files, options=options) if files else []
    if videos:
        written += compute_kinematics(
            args.config, videos, **analysis_args(args), overwrite=args.overwrite, options=options
        )
    for path in written:
        print(path)
        if args.plots:
            pose = path.with_name(path.name.replace("_kinematics.h5", ".h5"))
            plot_kinematics(
                path,
                Project.kinematics_plot(pose, "speed"),
                Project.kinematics_plot(pose, "occupancy"),
                options.freeze_speed,
                options.move_speed,
            )


def _kinematics_args(p: argparse.ArgumentParser) -> None:
    """speed, acceleration, angles, bouts of pose files: <pose stem>_kinematics.h5"""
    from dlcflow.post.kinematics import KinematicsOptions

    d = workflow_defaults(KinematicsOptions)
    video_args(p, "analyzed videos or folders, or pose files (.h5, 3D _DLC_3D.h5 too)")
    p.add_argument("--filtered", action="store_true", help="use the _filtered pose files")
    p.add_argument(
        "--pcutoff",
        type=float,
        default=d["pcutoff"],
        help="likelihood under it is missing (default: the config's pcutoff)",
    )
    p.add_argument("--max-gap", type=int, default=d["max_gap"], help="longest gap filled (frames)")
    p.add_argument("--window", type=int, default=d["window"], help="Savitzky-Golay window (0: off)")
    p.add_argument("--polyorder", type=int, default=d["polyorder"], help="Savitzky-Golay order")
    p.add_argument("--centre", nargs="+", help="body parts of the centre (default: all)")
    p.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"), help="a distance")
    angle = "a joint angle at VERTEX"
    p.add_argument("--angle", nargs=3, action="append", metavar=("A", "VERTEX", "B"), help=angle)
    p.add_argument("--heading", nargs=2, metavar=("TAIL", "HEAD"), help="heading from two parts")
    speed = "(units/s)"
    p.add_argument("--freeze-speed", type=float, default=d["freeze_speed"], help=speed)
    p.add_argument("--min-freeze-s", type=float, default=d["min_freeze_s"], help="seconds")
    p.add_argument("--move-speed", type=float, default=d["move_speed"], help=speed)
    p.add_argument("--min-move-s", type=float, default=d["min_move_s"], help="seconds")
    p.add_argument(
        "--pixels-per-mm",
        type=float,
        default=d["pixels_per_mm"],
        help="scale: lengths in mm (default: pixels)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=d["fps"],
        help="frame rate (default: the pose file's, else the video's)",
    )
    csv, both = d["save_as_csv"], argparse.BooleanOptionalAction
    p.add_argument("--save-as-csv", action=both, default=csv, help="also write a .csv")
    p.add_argument("--plots", action="store_true", help="also draw speed and occupancy plots")
    p.add_argument("--overwrite", action="store_true", help="compute again where done")


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("filter", _filter, _filter_args),
    ("plot-trajectories", _plot_trajectories, _plot_trajectories_args),
    ("labeled-video", _labeled_video, _labeled_video_args),
    ("analyze-skeleton", _analyze_skeleton, _analyze_skeleton_args),
    ("extract-outliers", _extract_outliers, _extract_outliers_args),
    ("kinematics", _kinematics, _kinematics_args),
)
