"""The ``dlcflow`` command: project set-up and the steps run outside Snakemake.

Each subcommand imports the library module it runs when it runs, so that ``dlcflow
--help`` and the light commands start without TensorFlow. The subcommands that do what a
workflow stage does take the workflow's defaults from the library's options classes; the
parser gets the arguments of the subcommand that runs only (``build_parser(command)``), so
their modules are imported by that subcommand alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from dlcflow.core.log import install_plain_warnings
from dlcflow.core.quiet import filter_native_stderr


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


def _add_videos(args: argparse.Namespace) -> None:
    from dlcflow.labeling.videos import add_new_videos

    for key in add_new_videos(args.config, args.videos, copy_videos=args.copy_videos):
        print(f"added {key}")


def _extract_frames(args: argparse.Namespace) -> None:
    from dlcflow.labeling.frames import extract_frames

    written = extract_frames(args.config, algo=args.algo, crop=args.crop, force=args.force)
    for stem, paths in written.items():
        print(f"{stem}: {len(paths)} frames")


def _check_labels(args: argparse.Namespace) -> None:
    from dlcflow.plots.labels import check_labels

    for folder in check_labels(args.config):
        print(folder)


def _create_dataset(args: argparse.Namespace) -> None:
    from dlcflow.training.dataset import create_training_dataset

    create_training_dataset(
        args.config,
        num_shuffles=args.num_shuffles,
        net_type=args.net_type,
        init_weights=args.init_weights,
    )


def _train(args: argparse.Namespace) -> None:
    from dlcflow.training.train import train_network

    print(
        train_network(
            args.config,
            shuffle=args.shuffle,
            trainingsetindex=args.trainingsetindex,
            maxiters=args.maxiters,
            saveiters=args.saveiters,
            displayiters=args.displayiters,
        )
    )


def _evaluate(args: argparse.Namespace) -> None:
    from dlcflow.post.evaluate import evaluate_network

    results = evaluate_network(
        args.config,
        Shuffles=args.shuffles,
        trainingsetindex=args.trainingsetindex,
        plotting=args.plotting,
        engine=args.engine,
    )
    print(results.to_string())


def _analyze(args: argparse.Namespace) -> None:
    from dlcflow.inference.analyze import AnalysisOptions, analyze_videos

    scorer = analyze_videos(
        args.config,
        args.videos,
        videotype=args.videotype,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        destfolder=args.destfolder,
        force=args.force,
        options=AnalysisOptions(save_as_csv=args.save_as_csv, engine=args.engine),
    )
    print(scorer)


def _export(args: argparse.Namespace) -> None:
    from dlcflow.inference.export import export_model

    print(
        export_model(
            args.config,
            shuffle=args.shuffle,
            trainingsetindex=args.trainingsetindex,
            snapshot_index=args.snapshotindex,
            force=args.force,
        )
    )


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
        args.config, args.videos, **_analysis_args(args), overwrite=args.overwrite, options=options
    ):
        print(path)


def _plot_trajectories(args: argparse.Namespace) -> None:
    from dlcflow.plots.poses import plot_trajectories

    for folder in plot_trajectories(
        args.config,
        args.videos,
        **_analysis_args(args),
        filtered=args.filtered,
        displayedbodyparts=args.bodyparts or "all",
    ):
        print(folder)


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
    )
    for path in create_labeled_video(
        args.config,
        args.videos,
        **_analysis_args(args),
        filtered=args.filtered,
        overwrite=args.overwrite,
        options=options,
    ):
        print(path)


def _analyze_skeleton(args: argparse.Namespace) -> None:
    from dlcflow.post.filters import analyzeskeleton

    for path in analyzeskeleton(
        args.config,
        args.videos,
        **_analysis_args(args),
        filtered=args.filtered,
        save_as_csv=args.save_as_csv,
        overwrite=args.overwrite,
    ):
        print(path)


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
        args.config, args.videos, **_analysis_args(args), options=options
    )
    print(f"{len(frames)} outlier frames extracted")


def _merge(args: argparse.Namespace) -> None:
    from dlcflow.post.merge import merge_datasets

    print(f"iteration {merge_datasets(args.config, forceiterate=args.forceiterate)}")


def _analysis_args(args: argparse.Namespace) -> dict[str, object]:
    keys = ("videotype", "shuffle", "trainingsetindex", "destfolder")
    return {key: getattr(args, key) for key in keys}


def _label(args: argparse.Namespace) -> None:
    from dlcflow.labeler import launch

    mode = "refine" if args.command == "refine" else "label"
    launch(args.config, mode, video=args.video, port=args.port, open_browser=not args.no_browser)


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


# -- the arguments of each subcommand --------------------------------------------------------
CONFIG_HELP = "the project's config.yaml"
ENGINE_HELP = "auto: ONNX Runtime when the snapshot's ONNX export exists, else TensorFlow"


def _workflow_defaults(options: type) -> dict[str, Any]:
    """The defaults of an options class as the workflow has them (its config section in
    config/config.yaml, which tests/test_options.py holds to the class): the fields'
    defaults, with the section's own (``CONFIG_DEFAULTS``) over them."""
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    return {**defaults, **options.CONFIG_DEFAULTS}


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shuffle", type=int, default=1, help="shuffle of the model")
    p.add_argument("--trainingsetindex", type=int, default=0, help="index into TrainingFraction")


def _video_args(
    p: argparse.ArgumentParser, videos: str = "analyzed video files or folders"
) -> None:
    """CONFIG, VIDEO... and the options that find a video's pose file."""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help=videos)
    p.add_argument("--videotype", default="", help="video extension in folders (default: any)")
    _model_args(p)
    p.add_argument(
        "--destfolder", default=None, help="folder of the pose files (default: beside each video)"
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


def _add_videos_args(p: argparse.ArgumentParser) -> None:
    """add videos to a project's video_sets"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help="video files or folders of videos")
    p.add_argument("--copy-videos", action="store_true", help="copy instead of symlinking")


def _extract_frames_args(p: argparse.ArgumentParser) -> None:
    """pick frames to label (the `frames` target)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--algo", choices=["kmeans", "uniform"], default="kmeans", help="frame choice")
    p.add_argument("--crop", action="store_true", help="crop to each video's video_sets crop")
    p.add_argument("--force", action="store_true", help="extract again where frames exist")


def _check_labels_args(p: argparse.ArgumentParser) -> None:
    """draw the labels onto their frames"""
    p.add_argument("config", help=CONFIG_HELP)


def _create_dataset_args(p: argparse.ArgumentParser) -> None:
    """build training datasets"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--num-shuffles", type=int, default=1, help="shuffles to create")
    p.add_argument("--net-type", help="network (default: the config's default_net_type)")
    p.add_argument("--init-weights", default="imagenet", help="imagenet, none or a file")


def _train_args(p: argparse.ArgumentParser) -> None:
    """train a network (resumes from its last snapshot)"""
    p.add_argument("config", help=CONFIG_HELP)
    _model_args(p)
    p.add_argument("--maxiters", type=int, help="iterations (default: the end of multi_step)")
    p.add_argument(
        "--saveiters", type=int, help="snapshot every n (default: pose_cfg's save_iters)"
    )
    p.add_argument(
        "--displayiters", type=int, help="log every n (default: pose_cfg's display_iters)"
    )


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    """errors of the trained network on the labeled frames"""
    from dlcflow.inference.engines import ENGINE_NAMES  # (heavy: only for this subcommand)

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--shuffles", type=int, nargs="+", default=[1], help="shuffles to evaluate")
    p.add_argument("--trainingsetindex", type=int, default=0, help="index into TrainingFraction")
    p.add_argument("--plotting", action="store_true", help="draw predictions on the frames")
    p.add_argument("--engine", choices=ENGINE_NAMES, default="tensorflow", help=ENGINE_HELP)


def _analyze_args(p: argparse.ArgumentParser) -> None:
    """body-part positions in every frame of videos"""
    from dlcflow.inference.analyze import AnalysisOptions  # (heavy: only for this subcommand)
    from dlcflow.inference.engines import ENGINE_NAMES

    defaults = _workflow_defaults(AnalysisOptions)
    _video_args(p, videos="video files or folders")
    csv = "also write a .csv beside each .h5"
    both = argparse.BooleanOptionalAction
    p.add_argument("--save-as-csv", action=both, default=defaults["save_as_csv"], help=csv)
    p.add_argument("--force", action="store_true", help="analyze again where results exist")
    p.add_argument("--engine", choices=ENGINE_NAMES, default=defaults["engine"], help=ENGINE_HELP)


def _export_args(p: argparse.ArgumentParser) -> None:
    """export the trained snapshot to ONNX (fast CPU analysis)"""
    p.add_argument("config", help=CONFIG_HELP)
    _model_args(p)
    which = "snapshot to export (default: the config's snapshotindex)"
    p.add_argument("--snapshotindex", type=int, help=which)
    p.add_argument("--force", action="store_true", help="export again where it is current")


def _filter_args(p: argparse.ArgumentParser) -> None:
    """filter pose files (median, arima, spline)"""
    from dlcflow.post.filters import FILTERTYPES, FilterOptions  # (heavy: only for this one)

    defaults = _workflow_defaults(FilterOptions)
    _video_args(p)
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


def _plot_trajectories_args(p: argparse.ArgumentParser) -> None:
    """trajectory plots into plot-poses/<video>/"""
    _video_args(p)
    p.add_argument("--filtered", action="store_true", help="plot the filtered data")
    p.add_argument("--bodyparts", nargs="+", help="body parts to show (default: all)")


def _labeled_video_args(p: argparse.ArgumentParser) -> None:
    """draw the predictions onto the videos"""
    from dlcflow.plots.poses import LabeledVideoOptions  # (heavy: only for this subcommand)

    defaults = _workflow_defaults(LabeledVideoOptions)
    _video_args(p)
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


def _analyze_skeleton_args(p: argparse.ArgumentParser) -> None:
    """bone lengths and orientations per frame"""
    _video_args(p)
    p.add_argument("--filtered", action="store_true", help="from the filtered data")
    p.add_argument("--save-as-csv", action="store_true", help="also write a .csv")
    p.add_argument("--overwrite", action="store_true", help="compute again where done")


def _extract_outliers_args(p: argparse.ArgumentParser) -> None:
    """frames to refine (the `outliers` target)"""
    from dlcflow.post.outliers import OutlierOptions  # (heavy: only for this subcommand)

    defaults = _workflow_defaults(OutlierOptions)
    _video_args(p)
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


def _merge_args(p: argparse.ArgumentParser) -> None:
    """start the next iteration once outliers are refined"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--forceiterate", type=int, help="set this iteration (default: the next one)")


def _label_args(p: argparse.ArgumentParser) -> None:
    """label frames in the browser (a local web page)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--video", help="labeled-data folder to open first (default: the first)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")


def _refine_args(p: argparse.ArgumentParser) -> None:
    """correct machine labels (machinelabels-iter<N>.h5) in the browser"""
    _label_args(p)


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


Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], None]

# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[tuple[str, Run, Arguments], ...] = (
    ("create-project", _create_project, _create_project_args),
    ("add-videos", _add_videos, _add_videos_args),
    ("extract-frames", _extract_frames, _extract_frames_args),
    ("check-labels", _check_labels, _check_labels_args),
    ("create-training-dataset", _create_dataset, _create_dataset_args),
    ("train", _train, _train_args),
    ("evaluate", _evaluate, _evaluate_args),
    ("analyze", _analyze, _analyze_args),
    ("export", _export, _export_args),
    ("filter", _filter, _filter_args),
    ("plot-trajectories", _plot_trajectories, _plot_trajectories_args),
    ("labeled-video", _labeled_video, _labeled_video_args),
    ("analyze-skeleton", _analyze_skeleton, _analyze_skeleton_args),
    ("extract-outliers", _extract_outliers, _extract_outliers_args),
    ("merge", _merge, _merge_args),
    ("label", _label, _label_args),
    ("refine", _label, _refine_args),
    ("demo-data", _demo_data, _demo_data_args),
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default: ``on`` or ``off`` for a flag, the value
    otherwise; a help that names its default itself is left as it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").replace(" (default: %(default)s)", "")  # a boolean's own
        if "default" in text or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if isinstance(action, argparse._StoreTrueAction | argparse.BooleanOptionalAction):
            return f"{text} (default: {'on' if action.default else 'off'})"
        return f"{text} (default: %(default)s)"


def _version() -> str:
    try:
        return metadata.version("dlcflow")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``dlcflow`` parser. The arguments of ``command`` only are added (of every
    subcommand when None): some take their defaults from the library's options classes,
    whose modules are imported only for the subcommand that runs."""
    parser = argparse.ArgumentParser(
        prog="dlcflow",
        description="Markerless pose estimation the DeepLabCut way. The stages run as "
        "Snakemake targets, the target before --config (snakemake --cores N TARGET "
        "--config project=CONFIG); these commands set projects up and run single steps.",
    )
    parser.add_argument("--version", action="version", version=f"dlcflow {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, run, arguments in COMMANDS:
        text = (arguments.__doc__ or "").strip()
        p = sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        p.set_defaults(func=run)
        if command is None or command == name:
            arguments(p)
    return parser


def _command_of(argv: Sequence[str]) -> str:
    """The subcommand of a command line: its first word that is not an option ("" if none;
    the top-level options take no values)."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors print one line and exit with status 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    install_plain_warnings()
    try:
        args.func(args)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f"dlcflow {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


def run() -> int:
    """The ``dlcflow`` console command: :func:`main`, with TensorFlow's native start-up
    chatter kept off the terminal (``DLCFLOW_VERBOSE=1`` keeps it)."""
    filter_native_stderr()
    return main()


if __name__ == "__main__":
    sys.exit(run())
