"""The ``dlcflow`` subcommands of project set-up, frames and labels, the demo's data."""

from __future__ import annotations

import argparse
import shlex
import sys

from dlcflow.cli.common import CONFIG_HELP, Command


def _create_project(args: argparse.Namespace) -> None:
    from dlcflow.project.create import create_new_project

    config = create_new_project(
        args.name,
        args.experimenter,
        args.videos,
        working_directory=args.working_directory,
        copy_videos=args.copy_videos,
        multianimal=args.multianimal,
        bodyparts=args.bodyparts,
        individuals=args.individuals,
        unique_bodyparts=args.unique_bodyparts,
    )
    print(config)
    # the next steps on stderr: stdout stays the config path alone (CONFIG=$(dlcflow ...))
    quoted = shlex.quote(str(config))
    print(
        "next (frames to label; in the dlcflow folder): "
        f"snakemake --cores 2 frames --config project={quoted}\n"
        f"then (label them): dlcflow label {quoted}",
        file=sys.stderr,
    )


def _create_project_args(p: argparse.ArgumentParser) -> None:
    """create a DLC project folder"""
    p.add_argument("name", help="task name (the project is <name>-<experimenter>-<date>)")
    p.add_argument("experimenter", help="who labels (the project's scorer)")
    p.add_argument("videos", nargs="+", help="video files or folders of videos")
    where = "folder to create the project in (default: the current one)"
    p.add_argument("--working-directory", "-d", default=None, help=where)
    p.add_argument("--copy-videos", action="store_true", help="copy instead of symlinking")
    p.add_argument("--multianimal", action="store_true", help="a multi-animal project")
    p.add_argument("--bodyparts", nargs="+", help="body-part names (default: DLC's placeholders)")
    p.add_argument(
        "--individuals",
        nargs="+",
        help="with --multianimal: the animals' names (default: individual1..3)",
    )
    p.add_argument(
        "--unique-bodyparts",
        nargs="+",
        help="with --multianimal: parts seen once per frame, e.g. a fixed object (default: none)",
    )


def _add_videos(args: argparse.Namespace) -> None:
    from dlcflow.labeling.videos import add_new_videos

    for key in add_new_videos(args.config, args.videos, copy_videos=args.copy_videos):
        print(f"added {key}")


def _add_videos_args(p: argparse.ArgumentParser) -> None:
    """add videos to a project's video_sets"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help="video files or folders of videos")
    p.add_argument("--copy-videos", action="store_true", help="copy instead of symlinking")


def _extract_frames(args: argparse.Namespace) -> None:
    from dlcflow.labeling.frames import extract_frames

    written = extract_frames(args.config, algo=args.algo, crop=args.crop, force=args.force)
    for stem, paths in written.items():
        print(f"{stem}: {len(paths)} frames")


def _extract_frames_args(p: argparse.ArgumentParser) -> None:
    """pick frames to label (the `frames` target)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--algo", choices=["kmeans", "uniform"], default="kmeans", help="frame choice")
    p.add_argument("--crop", action="store_true", help="crop to each video's video_sets crop")
    p.add_argument("--force", action="store_true", help="extract again where frames exist")


def _check_labels(args: argparse.Namespace) -> None:
    from dlcflow.plots.labels import check_labels

    for folder in check_labels(args.config):
        print(folder)


def _check_labels_args(p: argparse.ArgumentParser) -> None:
    """draw the labels onto their frames"""
    p.add_argument("config", help=CONFIG_HELP)


def _label(args: argparse.Namespace) -> None:
    from dlcflow.labeler import launch

    mode = "refine" if args.command == "refine" else "label"
    launch(
        args.config,
        mode,
        video=args.video,
        port=args.port,
        open_browser=not args.no_browser,
        skeleton=getattr(args, "skeleton", False),
    )


def _labeler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--video", help="labeled-data folder to open first (default: the first)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")


def _label_args(p: argparse.ArgumentParser) -> None:
    """label frames in the browser (a local web page)"""
    _labeler_args(p)
    p.add_argument(
        "--skeleton",
        action="store_true",
        help="open the skeleton builder: click two body parts to add or remove an edge of "
        "config.yaml's skeleton (DLC's SkeletonBuilder)",
    )


def _refine_args(p: argparse.ArgumentParser) -> None:
    """correct machine labels (machinelabels-iter<N>.h5) in the browser"""
    _labeler_args(p)


def _refine_tracks(args: argparse.Namespace) -> None:
    from dlcflow.labeler.trackserver import refine_tracklets

    refine_tracklets(
        args.config,
        args.tracks,
        args.video,
        min_swap_len=args.min_swap_len,
        min_tracklet_len=args.min_tracklet_len,
        max_gap=args.max_gap,
        trail_len=args.trail_len,
        port=args.port,
        open_browser=not args.no_browser,
    )


def _refine_tracks_args(p: argparse.ArgumentParser) -> None:
    """refine multi-animal tracks (_el.h5) or tracklets (_el.pickle) in the browser, as
    DLC's refine_tracklets: swap identities, delete stretches, see the body-part swaps and
    trails; "Add to training data" saves them and extracts the frames marked with T as
    outlier frames labeled by the refined tracks (check them with dlcflow refine, then
    dlcflow merge)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument(
        "tracks",
        help="<video><scorer>_el.h5 (saved in place) or _el.pickle (saved to _el.h5 beside it)",
    )
    p.add_argument("--video", help="the video (default: found beside the file or in the project)")
    p.add_argument(
        "--min-swap-len",
        type=float,
        default=2,
        help="mark body-part swaps of more than this many crossings, as DLC counts them",
    )
    p.add_argument(
        "--min-tracklet-len",
        type=int,
        default=2,
        help="a pickle's tracklets of this many frames or fewer are dropped",
    )
    p.add_argument(
        "--max-gap",
        type=int,
        default=2,
        help="fill gaps of up to this many frames by a spline, likelihood 0.01 (0: all gaps)",
    )
    p.add_argument(
        "--trail-len",
        type=int,
        default=0,
        help="draw each part's positions over this many frames around the current one "
        "(0: no trail; DLC's guide uses 50)",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")


def _merge(args: argparse.Namespace) -> None:
    from dlcflow.post.merge import merge_datasets

    print(f"iteration {merge_datasets(args.config, forceiterate=args.forceiterate)}")


def _merge_args(p: argparse.ArgumentParser) -> None:
    """start the next iteration once outliers are refined"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--forceiterate", type=int, help="set this iteration (default: the next one)")


def _demo_data(args: argparse.Namespace) -> None:
    from dlcflow.devtools.demo import make_demo_data
    from dlcflow.devtools.mademo import make_multi_animal_demo_data

    kwargs = {"n_videos": args.n_videos, "nframes": args.nframes, "seed": args.seed}
    if args.multianimal:
        videos = make_multi_animal_demo_data(args.outdir, n_animals=args.animals, **kwargs)
    else:
        videos = make_demo_data(args.outdir, **kwargs)
    for video in videos:
        print(video)


def _demo_data_args(p: argparse.ArgumentParser) -> None:
    """render synthetic videos with ground truth"""
    p.add_argument("outdir", help="folder of the videos and their ground truth")
    p.add_argument("--n-videos", type=int, default=2, help="number of videos")
    p.add_argument("--nframes", type=int, default=300, help="frames per video")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--multianimal", action="store_true", help="several look-alike mice and a fixed feeder"
    )
    p.add_argument("--animals", type=int, default=3, help="mice per video (with --multianimal)")


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("create-project", _create_project, _create_project_args),
    ("add-videos", _add_videos, _add_videos_args),
    ("extract-frames", _extract_frames, _extract_frames_args),
    ("check-labels", _check_labels, _check_labels_args),
    ("label", _label, _label_args),
    ("refine", _label, _refine_args),
    ("refine-tracks", _refine_tracks, _refine_tracks_args),
    ("merge", _merge, _merge_args),
    ("demo-data", _demo_data, _demo_data_args),
)
