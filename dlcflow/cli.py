"""The ``dlcflow`` command: project set-up and the steps run outside Snakemake."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence


def _create_project(args: argparse.Namespace) -> None:
    from dlcflow.project import create_new_project

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
    from dlcflow.project import add_new_videos

    for key in add_new_videos(args.config, args.videos, copy_videos=args.copy_videos):
        print(f"added {key}")


def _extract_frames(args: argparse.Namespace) -> None:
    from dlcflow.frames import extract_frames

    written = extract_frames(args.config, algo=args.algo, crop=args.crop, force=args.force)
    for stem, paths in written.items():
        print(f"{stem}: {len(paths)} frames")


def _check_labels(args: argparse.Namespace) -> None:
    from dlcflow.plotting import check_labels

    for folder in check_labels(args.config):
        print(folder)


def _create_dataset(args: argparse.Namespace) -> None:
    from dlcflow.dataset import create_training_dataset

    create_training_dataset(
        args.config,
        num_shuffles=args.num_shuffles,
        net_type=args.net_type,
        init_weights=args.init_weights,
    )


def _train(args: argparse.Namespace) -> None:
    from dlcflow.train import train_network

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
    from dlcflow.evaluate import evaluate_network

    results = evaluate_network(
        args.config,
        Shuffles=args.shuffles,
        trainingsetindex=args.trainingsetindex,
        plotting=args.plotting,
    )
    print(results.to_string())


def _analyze(args: argparse.Namespace) -> None:
    from dlcflow.analyze import analyze_videos

    scorer = analyze_videos(
        args.config,
        args.videos,
        videotype=args.videotype,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        save_as_csv=args.save_as_csv,
        destfolder=args.destfolder,
        force=args.force,
    )
    print(scorer)


def _demo_data(args: argparse.Namespace) -> None:
    from dlcflow.demo import make_demo_data

    for video in make_demo_data(
        args.outdir, n_videos=args.n_videos, nframes=args.nframes, seed=args.seed
    ):
        print(video)


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
    p.set_defaults(func=_analyze)

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
