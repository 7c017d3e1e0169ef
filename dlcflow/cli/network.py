"""The ``dlcflow`` subcommands of training datasets, training, evaluation, analysis and export."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import (
    CONFIG_HELP,
    ENGINE_HELP,
    Command,
    model_args,
    video_args,
    workflow_defaults,
)


def _create_dataset(args: argparse.Namespace) -> None:
    from dlcflow.training.dataset import create_training_dataset

    create_training_dataset(
        args.config,
        num_shuffles=args.num_shuffles,
        net_type=args.net_type,
        init_weights=args.init_weights,
    )


def _create_dataset_args(p: argparse.ArgumentParser) -> None:
    """build training datasets"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--num-shuffles", type=int, default=1, help="shuffles to create")
    p.add_argument("--net-type", help="network (default: the config's default_net_type)")
    p.add_argument("--init-weights", default="imagenet", help="imagenet, none or a file")


def _model_comparison(args: argparse.Namespace) -> None:
    from dlcflow.training.comparison import create_training_model_comparison

    shuffles = create_training_model_comparison(
        args.config,
        trainindex=args.trainindex,
        num_shuffles=args.num_shuffles,
        net_types=args.net_types,
        augmenter_types=args.augmenter_types,
        init_weights=args.init_weights,
    )
    print(" ".join(str(s) for s in shuffles))


def _model_comparison_args(p: argparse.ArgumentParser) -> None:
    """one shuffle per network x augmenter on one split (DLC's model comparison)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--net-types", nargs="+", default=["resnet_50"], help="networks to compare")
    p.add_argument("--augmenter-types", nargs="+", default=["imgaug"], help="augmenters to compare")
    p.add_argument("--num-shuffles", type=int, default=1, help="splits, each with every pair")
    p.add_argument("--trainindex", type=int, default=0, help="index into TrainingFraction")
    p.add_argument("--init-weights", default="imagenet", help="imagenet, none or a file")


def _compare_models(args: argparse.Namespace) -> None:
    from dlcflow.post.comparison import compare_models

    compare_models(args.config, iteration=args.iteration)


def _compare_models_args(p: argparse.ArgumentParser) -> None:
    """the evaluated errors of a model comparison's shuffles in one table"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--iteration", type=int, help="the config's iteration when not given")


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


def _train_args(p: argparse.ArgumentParser) -> None:
    """train a network (resumes from its last snapshot)"""
    p.add_argument("config", help=CONFIG_HELP)
    model_args(p)
    p.add_argument("--maxiters", type=int, help="iterations (default: the end of multi_step)")
    p.add_argument(
        "--saveiters", type=int, help="snapshot every n (default: pose_cfg's save_iters)"
    )
    p.add_argument(
        "--displayiters", type=int, help="log every n (default: pose_cfg's display_iters)"
    )


def _evaluate(args: argparse.Namespace) -> None:
    from dlcflow.post.evaluate import evaluate_network

    results = evaluate_network(
        args.config,
        Shuffles=args.shuffles,
        trainingsetindex=args.trainingsetindex,
        plotting=args.plotting,
        engine=args.engine,
        calibrate=args.calibrate,
    )
    print(results.to_string())


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    """errors of the trained network on the labeled frames"""
    from dlcflow.inference.engines import ENGINE_NAMES  # (heavy: only for this subcommand)

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("--shuffles", type=int, nargs="+", default=[1], help="shuffles to evaluate")
    p.add_argument("--trainingsetindex", type=int, default=0, help="index into TrainingFraction")
    p.add_argument("--plotting", action="store_true", help="draw predictions on the frames")
    p.add_argument("--engine", choices=ENGINE_NAMES, default="tensorflow", help=ENGINE_HELP)
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="multi-animal: assemble weighing links by the training labels' lengths",
    )


def _evaluate_tracks(args: argparse.Namespace) -> None:
    from dlcflow.post.trackeval import evaluate_tracks, tracking_table

    df = evaluate_tracks(
        args.config,
        args.videos,
        groundtruth=args.groundtruth,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        track_method=args.track_method,
        gate_px=args.gate_px,
        destfolder=args.destfolder,
    )
    print("\n".join(tracking_table(df)))
    for path in df.attrs["results_files"]:
        print(path)


def _evaluate_tracks_args(p: argparse.ArgumentParser) -> None:
    """identity tracking of videos' tracks against ground truth (IDF1, switches)"""
    video_args(p, videos="analyzed and tracked video files", folders=False)
    truth = "ground truth h5 per video, in order (default: <video>_groundtruth.h5 beside it)"
    p.add_argument("--groundtruth", nargs="+", metavar="GT.h5", help=truth)
    gate = "largest mean keypoint distance of a match (default: half the animals' size)"
    p.add_argument("--gate-px", type=float, metavar="PX", help=gate)


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
        auto_track=args.auto_track,
        n_tracks=args.n_tracks,
        calibrate=args.calibrate,
        identity_only=args.identity_only,
    )
    print(scorer)


def _analyze_args(p: argparse.ArgumentParser) -> None:
    """body-part positions in every frame of videos"""
    from dlcflow.inference.analyze import AnalysisOptions  # (heavy: only for this subcommand)
    from dlcflow.inference.engines import ENGINE_NAMES

    defaults = workflow_defaults(AnalysisOptions)
    video_args(p, videos="video files or folders", tracks=False)
    csv = "also write a .csv beside each .h5"
    both = argparse.BooleanOptionalAction
    p.add_argument("--save-as-csv", action=both, default=defaults["save_as_csv"], help=csv)
    p.add_argument("--force", action="store_true", help="analyze again where results exist")
    p.add_argument("--engine", choices=ENGINE_NAMES, default=defaults["engine"], help=ENGINE_HELP)


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


def _export_args(p: argparse.ArgumentParser) -> None:
    """export the trained snapshot to ONNX (fast CPU analysis)"""
    p.add_argument("config", help=CONFIG_HELP)
    model_args(p)
    which = "snapshot to export (default: the config's snapshotindex)"
    p.add_argument("--snapshotindex", type=int, help=which)
    p.add_argument("--force", action="store_true", help="export again where it is current")


def _extract_maps(args: argparse.Namespace) -> None:
    from dlcflow.plots.maps import extract_save_all_maps

    written = extract_save_all_maps(
        args.config,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        comparisonbodyparts=args.comparisonbodyparts or "all",
        extract_paf=not args.no_paf,
        all_paf_in_one=not args.paf_per_limb,
        rescale=args.rescale,
        Indices=args.indices,
        dest_folder=args.dest_folder,
    )
    folders = sorted({str(path.parent) for path in written})
    print(f"{len(written)} map images in {', '.join(folders) or 'no folder'}")


def _extract_maps_args(p: argparse.ArgumentParser) -> None:
    """score maps, location refinement and part affinity fields on the labeled frames"""
    p.add_argument("config", help=CONFIG_HELP)
    model_args(p)
    parts = "body parts whose maps are drawn, summed (default: all)"
    p.add_argument("--comparisonbodyparts", nargs="+", metavar="PART", help=parts)
    rows = "rows of the merged annotations (default: every labeled frame)"
    p.add_argument("--indices", type=int, nargs="+", metavar="ROW", help=rows)
    p.add_argument("--rescale", action="store_true", help="feed frames resized by global_scale")
    p.add_argument("--no-paf", action="store_true", help="no part affinity field images")
    p.add_argument("--paf-per-limb", action="store_true", help="one PAF image per limb")
    p.add_argument("--dest-folder", help="folder of the images (default: <evaluation>/maps)")


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("create-training-dataset", _create_dataset, _create_dataset_args),
    ("create-training-model-comparison", _model_comparison, _model_comparison_args),
    ("train", _train, _train_args),
    ("evaluate", _evaluate, _evaluate_args),
    ("compare-models", _compare_models, _compare_models_args),
    ("evaluate-tracks", _evaluate_tracks, _evaluate_tracks_args),
    ("extract-maps", _extract_maps, _extract_maps_args),
    ("analyze", _analyze, _analyze_args),
    ("export", _export, _export_args),
)
