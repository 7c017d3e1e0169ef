"""The ``dlcflow`` command: project set-up and the steps run outside Snakemake.

Each subcommand imports the library module it runs when it runs, so that ``dlcflow
--help`` and the light commands start without TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence


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
    )
    print(config)


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
        save_as_csv=not args.no_csv,
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


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    """CONFIG, VIDEO... and the options that find a video's pose file."""
    p.add_argument("config")
    p.add_argument("videos", nargs="+", help="analyzed video files or folders")
    p.add_argument("--videotype", default="")
    p.add_argument("--shuffle", type=int, default=1)
    p.add_argument("--trainingsetindex", type=int, default=0)
    p.add_argument("--destfolder", default=None, help="folder of the pose files")


def _label(args: argparse.Namespace) -> None:
    from dlcflow.labeler import launch

    mode = "refine" if args.command == "refine" else "label"
    launch(args.config, mode, video=args.video, port=args.port, open_browser=not args.no_browser)


def _demo_data(args: argparse.Namespace) -> None:
    from dlcflow.devtools.demo import make_demo_data

    for video in make_demo_data(
        args.outdir, n_videos=args.n_videos, nframes=args.nframes, seed=args.seed
    ):
        print(video)


ENGINE_CHOICES = ("auto", "tensorflow", "onnx")
ENGINE_HELP = "auto: ONNX Runtime when the snapshot's ONNX export exists, else TensorFlow"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlcflow",
        description="Markerless pose estimation the DeepLabCut way. The stages run as "
        "Snakemake targets (snakemake --cores N --config project=CONFIG TARGET); these "
        "commands set projects up and run single steps.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("create-project", help="create a DLC project folder")
    p.add_argument("name", help="task name (the project is <name>-<experimenter>-<date>)")
    p.add_argument("experimenter")
    p.add_argument("videos", nargs="+", help="video files or folders of videos")
    p.add_argument("--working-directory", "-d", default=None)
    p.add_argument("--copy-videos", action="store_true", help="copy instead of symlinking")
    p.add_argument("--multianimal", action="store_true")
    p.add_argument("--bodyparts", nargs="+", default=None, help="body-part names")
    p.set_defaults(func=_create_project)

    p = sub.add_parser("add-videos", help="add videos to a project's video_sets")
    p.add_argument("config")
    p.add_argument("videos", nargs="+")
    p.add_argument("--copy-videos", action="store_true")
    p.set_defaults(func=_add_videos)

    p = sub.add_parser("extract-frames", help="pick frames to label (the `frames` target)")
    p.add_argument("config")
    p.add_argument("--algo", choices=["kmeans", "uniform"], default="kmeans")
    p.add_argument("--crop", action="store_true", help="crop to each video's video_sets crop")
    p.add_argument("--force", action="store_true", help="extract again where frames exist")
    p.set_defaults(func=_extract_frames)

    p = sub.add_parser("check-labels", help="draw the labels onto their frames")
    p.add_argument("config")
    p.set_defaults(func=_check_labels)

    p = sub.add_parser("create-training-dataset", help="build training datasets")
    p.add_argument("config")
    p.add_argument("--num-shuffles", type=int, default=1)
    p.add_argument("--net-type", default=None)
    p.add_argument("--init-weights", default="imagenet", help="imagenet, none or a file")
    p.set_defaults(func=_create_dataset)

    p = sub.add_parser("train", help="train a network (resumes from its last snapshot)")
    p.add_argument("config")
    p.add_argument("--shuffle", type=int, default=1)
    p.add_argument("--trainingsetindex", type=int, default=0)
    p.add_argument("--maxiters", type=int, default=None)
    p.add_argument("--saveiters", type=int, default=None)
    p.add_argument("--displayiters", type=int, default=None)
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="errors of the trained network on the labeled frames")
    p.add_argument("config")
    p.add_argument("--shuffles", type=int, nargs="+", default=[1])
    p.add_argument("--trainingsetindex", type=int, default=0)
    p.add_argument("--plotting", action="store_true", help="draw predictions on the frames")
    p.add_argument("--engine", choices=ENGINE_CHOICES, default="tensorflow", help=ENGINE_HELP)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("analyze", help="body-part positions in every frame of videos")
    p.add_argument("config")
    p.add_argument("videos", nargs="+", help="video files or folders")
    p.add_argument("--videotype", default="")
    p.add_argument("--shuffle", type=int, default=1)
    p.add_argument("--trainingsetindex", type=int, default=0)
    p.add_argument("--save-as-csv", action="store_true")
    p.add_argument("--destfolder", default=None)
    p.add_argument("--force", action="store_true", help="analyze again where results exist")
    p.add_argument("--engine", choices=ENGINE_CHOICES, default="auto", help=ENGINE_HELP)
    p.set_defaults(func=_analyze)

    p = sub.add_parser("export", help="export the trained snapshot to ONNX (fast CPU analysis)")
    p.add_argument("config")
    p.add_argument("--shuffle", type=int, default=1)
    p.add_argument("--trainingsetindex", type=int, default=0)
    p.add_argument(
        "--snapshotindex", type=int, default=None, help="snapshot to export (default: config's)"
    )
    p.add_argument("--force", action="store_true", help="export again where it is current")
    p.set_defaults(func=_export)

    p = sub.add_parser("filter", help="filter pose files (median, arima, spline)")
    _add_analysis_options(p)
    p.add_argument("--filtertype", choices=["median", "arima", "spline"], default="median")
    p.add_argument("--windowlength", type=int, default=5)
    p.add_argument("--p-bound", type=float, default=0.001)
    p.add_argument("--ARdegree", type=int, default=3)
    p.add_argument("--MAdegree", type=int, default=1)
    p.add_argument("--no-csv", action="store_true", help="write the h5 only")
    p.add_argument("--overwrite", action="store_true", help="filter again where done")
    p.set_defaults(func=_filter)

    p = sub.add_parser("plot-trajectories", help="trajectory plots into plot-poses/<video>/")
    _add_analysis_options(p)
    p.add_argument("--filtered", action="store_true", help="plot the filtered data")
    p.add_argument("--bodyparts", nargs="+", default=None, help="body parts to show")
    p.set_defaults(func=_plot_trajectories)

    p = sub.add_parser("labeled-video", help="draw the predictions onto the videos")
    _add_analysis_options(p)
    p.add_argument("--filtered", action="store_true", help="draw the filtered data")
    p.add_argument("--draw-skeleton", action="store_true")
    p.add_argument("--trailpoints", type=int, default=0)
    p.add_argument("--keypoints-only", action="store_true", help="on black frames")
    p.add_argument("--bodyparts", nargs="+", default=None, help="body parts to show")
    p.add_argument("--displaycropped", action="store_true", help="show the analysis crop only")
    p.add_argument("--confidence-to-alpha", action="store_true", help="fade unsure points")
    p.add_argument("--outputframerate", type=float, default=None)
    p.add_argument("--overwrite", action="store_true", help="redraw existing videos")
    p.set_defaults(func=_labeled_video)

    p = sub.add_parser("analyze-skeleton", help="bone lengths and orientations per frame")
    _add_analysis_options(p)
    p.add_argument("--filtered", action="store_true", help="from the filtered data")
    p.add_argument("--save-as-csv", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="compute again where done")
    p.set_defaults(func=_analyze_skeleton)

    p = sub.add_parser("extract-outliers", help="frames to refine (the `outliers` target)")
    _add_analysis_options(p)
    p.add_argument("--algo", choices=["jump", "uncertain", "fitting", "list"], default="jump")
    p.add_argument("--frames", type=int, nargs="+", default=None, help="frames for --algo list")
    p.add_argument("--bodyparts", nargs="+", default=None, help="comparisonbodyparts")
    p.add_argument("--epsilon", type=float, default=20)
    p.add_argument("--p-bound", type=float, default=0.01)
    p.add_argument("--extraction", choices=["kmeans", "uniform"], default="kmeans")
    p.set_defaults(func=_extract_outliers)

    p = sub.add_parser("merge", help="start the next iteration once outliers are refined")
    p.add_argument("config")
    p.add_argument("--forceiterate", type=int, default=None, help="set this iteration instead")
    p.set_defaults(func=_merge)

    for name, text in (
        ("label", "label frames in the browser (a local web page)"),
        ("refine", "correct machine labels (machinelabels-iter<N>.h5) in the browser"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("config")
        p.add_argument("--video", default=None, help="labeled-data folder to open first")
        p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
        p.add_argument("--no-browser", action="store_true", help="only print the URL")
        p.set_defaults(func=_label)

    p = sub.add_parser("demo-data", help="render synthetic videos with ground truth")
    p.add_argument("outdir")
    p.add_argument("--n-videos", type=int, default=2)
    p.add_argument("--nframes", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors print one line and exit with status 1."""
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.showwarning = lambda message, *_a, **_k: print(f"warning: {message}", file=sys.stderr)
    try:
        args.func(args)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f"dlcflow {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
