"""The ``dlcflow`` subcommands of the multi-animal stages on files: assemble, track, stitch,
re-identification, the diagnostic videos of detections and tracklets, and outlier frames
from the raw data.

Each reads DLC's file of the stage before (a user's own DLC files work as they are) and
writes DLC's file of its stage beside it, or at ``--out``. The settings come from the
model's ``inference_cfg.yaml`` (found from the scorer in the file name), DLC's defaults
otherwise; ``--inference-cfg`` names another, and the options override single values.
"""

from __future__ import annotations

import argparse
from typing import Any

from dlcflow.cli.common import CONFIG_HELP, Command

SETTINGS_HELP = "inference_cfg.yaml to use (default: the model's, else DLC's defaults)"


def _set(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The options given on the command line (None = not given) as keyword overrides."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _assemble(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import assemble_file

    overrides = _set(args, ("pcutoff", "min_affinity", "min_n_links", "max_n_individuals"))
    print(
        assemble_file(
            args.config,
            args.full_pickle,
            args.out,
            inference_cfg=args.inference_cfg,
            calibrate=args.calibrate,
            identity_only=args.identity_only,
            **overrides,
        )
    )


def _assemble_args(p: argparse.ArgumentParser) -> None:
    """assemble a _full.pickle's detections into animals (_assemblies.pickle)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("full_pickle", help="detections, <video><scorer>_full.pickle")
    p.add_argument("--out", help="output (default: <video><scorer>_assemblies.pickle beside it)")
    p.add_argument("--inference-cfg", help=SETTINGS_HELP)
    p.add_argument(
        "--calibrate", action="store_true", help="weigh links by the labeled poses' lengths"
    )
    p.add_argument(
        "--identity-only", action="store_true", help="group by the identity channels only"
    )
    p.add_argument("--pcutoff", type=float, help="least detection confidence (default: cfg)")
    p.add_argument("--min-affinity", type=float, help="least link affinity (default: cfg)")
    p.add_argument("--min-n-links", type=int, help="least links per animal (default: cfg)")
    p.add_argument("--max-n-individuals", type=int, help="animals per frame (default: cfg)")


def _track(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import track_file

    overrides = _set(args, ("max_age", "min_hits", "iou_threshold"))
    print(
        track_file(
            args.config,
            args.assemblies_pickle,
            args.method or "",
            args.out,
            inference_cfg=args.inference_cfg,
            **overrides,
        )
    )


def _track_args(p: argparse.ArgumentParser) -> None:
    """link assemblies over time into tracklets (_el/_bx/_sk.pickle)"""
    from dlcflow.project.paths import TRACKER_SUFFIXES

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("assemblies_pickle", help="assemblies, <video><scorer>_assemblies.pickle")
    p.add_argument(
        "--method",
        choices=list(TRACKER_SUFFIXES),
        help="tracker (default: the config's default_track_method)",
    )
    p.add_argument("--out", help="output (default: <video><scorer>_el.pickle etc. beside it)")
    p.add_argument("--inference-cfg", help=SETTINGS_HELP)
    p.add_argument("--max-age", type=int, help="frames a lost track is kept (default: cfg)")
    p.add_argument("--min-hits", type=int, help="matches before a track counts (default: cfg)")
    p.add_argument("--iou-threshold", type=float, help="least similarity (default: cfg)")


def _stitch(args: argparse.Namespace) -> None:
    from dlcflow.tracking.pipeline import stitch_file

    overrides = _set(args, ("min_length", "max_gap"))
    print(
        stitch_file(
            args.config,
            args.tracklets_pickle,
            args.n_tracks,
            args.out,
            animal_names=args.animal_names,
            save_as_csv=args.save_as_csv,
            **overrides,
        )
    )


def _stitch_args(p: argparse.ArgumentParser) -> None:
    """stitch tracklets into one track per animal (_el.h5)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("tracklets_pickle", help="tracklets, <video><scorer>_el.pickle (_bx, _sk)")
    p.add_argument("--n-tracks", type=int, help="tracks (default: the config's individuals)")
    p.add_argument("--min-length", type=int, help="shortest tracklet kept whole (default: 10)")
    p.add_argument("--max-gap", type=int, help="longest gap bridged (default: from the data)")
    p.add_argument("--animal-names", nargs="+", help="track names (default: the individuals)")
    p.add_argument("--save-as-csv", action="store_true", help="also write a .csv")
    p.add_argument("--out", help="output (default: <video><scorer>_el.h5 beside it)")


def _reid(args: argparse.Namespace) -> None:
    from dlcflow.inference.reid import transformer_reID

    written = transformer_reID(
        args.config,
        args.videos,
        videotype=args.videotype,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        track_method=args.track_method,
        n_tracks=args.n_tracks,
        n_triplets=args.n_triplets,
        train_frac=args.train_frac,
        train_epochs=args.train_epochs,
        train_batch_size=args.train_batch_size,
        destfolder=args.destfolder,
        strength=args.strength,
    )
    for path in written:
        print(path)


def _reid_args(p: argparse.ArgumentParser) -> None:
    """re-identify animals by appearance and stitch with it (_el_tr.h5; transformer_reID)"""
    from dlcflow.inference.reid import REID_STRENGTH
    from dlcflow.project.paths import TRACKER_SUFFIXES

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help="videos (files or folders) whose tracklets to use")
    p.add_argument("--videotype", default="", help="video extension in folders")
    p.add_argument("--shuffle", type=int, default=1, help="shuffle of the model")
    p.add_argument("--trainingsetindex", type=int, default=0, help="training fraction index")
    p.add_argument(
        "--track-method", choices=list(TRACKER_SUFFIXES), default="ellipse", help="tracker"
    )
    p.add_argument("--n-tracks", type=int, help="tracks (default: the config's individuals)")
    p.add_argument("--n-triplets", type=int, default=1000, help="triplets mined per video")
    p.add_argument("--train-frac", type=float, default=0.8, help="share of triplets trained on")
    p.add_argument("--train-epochs", type=int, default=100, help="training epochs")
    p.add_argument("--train-batch-size", type=int, default=64, help="triplets per batch")
    p.add_argument("--destfolder", help="folder of the tracklets (default: beside the video)")
    p.add_argument(
        "--strength",
        type=float,
        default=REID_STRENGTH,
        help="weight of the appearance term, pixels per unit of cosine dissimilarity",
    )


def _detections_video(args: argparse.Namespace) -> None:
    from dlcflow.plots.detections import create_video_with_all_detections

    written = create_video_with_all_detections(
        args.config,
        args.videos,
        videotype=args.videotype,
        shuffle=args.shuffle,
        trainingsetindex=args.trainingsetindex,
        displayedbodyparts=args.displayedbodyparts or "all",
        cropping=args.cropping,
        destfolder=args.destfolder,
        modelprefix=args.modelprefix,
        confidence_to_alpha=args.confidence_to_alpha,
    )
    for path in written:
        print(path)


def _detections_video_args(p: argparse.ArgumentParser) -> None:
    """every detection of the _full.pickle drawn on the video (_full.mp4)"""
    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("videos", nargs="+", help="videos (files or folders) whose detections to draw")
    p.add_argument("--videotype", default="", help="video extension in folders")
    p.add_argument("--shuffle", type=int, default=1, help="shuffle of the model")
    p.add_argument("--trainingsetindex", type=int, default=0, help="training fraction index")
    p.add_argument("--displayedbodyparts", nargs="+", help="body parts drawn (default: all)")
    p.add_argument(
        "--cropping", type=int, nargs=4, metavar=("X1", "X2", "Y1", "Y2"), help="analysis crop"
    )
    p.add_argument("--destfolder", help="folder of the detections (default: beside the video)")
    p.add_argument("--modelprefix", default="", help="model folder prefix")
    p.add_argument(
        "--confidence-to-alpha", action="store_true", help="opacity = detection confidence"
    )


def _tracklets_video(args: argparse.Namespace) -> None:
    from dlcflow.plots.detections import create_video_from_pickled_tracks

    print(
        create_video_from_pickled_tracks(
            args.video, args.pickle_file, args.destfolder, args.output_name, args.pcutoff
        )
    )


def _tracklets_video_args(p: argparse.ArgumentParser) -> None:
    """tracklets (_el/_bx/_sk.pickle) drawn on the video, one colour per tracklet"""
    p.add_argument("video", help="the video the tracklets were made of")
    p.add_argument("pickle_file", help="tracklets, <video><scorer>_el.pickle (_bx, _sk)")
    p.add_argument("--destfolder", default="", help="folder (default: <video without ext>/)")
    p.add_argument("--output-name", default="", help="file name (default: <stem>DLClabeled.mp4)")
    p.add_argument("--pcutoff", type=float, default=0.6, help="least likelihood drawn")


def _raw_outliers(args: argparse.Namespace) -> None:
    from dlcflow.post.rawoutliers import find_outliers_in_raw_data

    written = find_outliers_in_raw_data(
        args.config,
        args.pickle_file,
        args.video,
        pcutoff=args.pcutoff,
        percentiles=tuple(args.percentiles),
        with_annotations=not args.no_annotations,
        extraction_algo=args.extraction_algo,
        copy_videos=args.copy_videos,
    )
    print(f"{len(written)} outlier frames extracted: {' '.join(map(str, written))}")


def _raw_outliers_args(p: argparse.ArgumentParser) -> None:
    """outlier frames from a _full.pickle or _assemblies.pickle (find_outliers_in_raw_data)"""
    from dlcflow.post.rawoutliers import RAW_OUTLIER_DEFAULTS as DEFAULTS  # the workflow's

    p.add_argument("config", help=CONFIG_HELP)
    p.add_argument("pickle_file", help="<video><scorer>_full.pickle or _assemblies.pickle")
    p.add_argument("video", help="the video the pickle was made from")
    p.add_argument(
        "--pcutoff",
        type=float,
        default=DEFAULTS["pcutoff"],
        help="_full.pickle: least detection confidence",
    )
    p.add_argument(
        "--percentiles",
        type=float,
        nargs=2,
        default=DEFAULTS["percentiles"],
        metavar=("LOW", "HIGH"),
        help="_assemblies.pickle: the box-area percentiles outside which an animal is odd",
    )
    p.add_argument(
        "--no-annotations", action="store_true", help="write the frames without machine labels"
    )
    p.add_argument(
        "--extraction-algo",
        choices=["kmeans", "uniform"],
        default=DEFAULTS["extraction_algo"],
        help="how numframes2pick frames are chosen",
    )
    p.add_argument(
        "--copy-videos", action="store_true", help="copy a new video into videos/, not a link"
    )


# name, what it runs, its arguments (whose docstring is the subcommand's help)
COMMANDS: tuple[Command, ...] = (
    ("assemble", _assemble, _assemble_args),
    ("track", _track, _track_args),
    ("stitch", _stitch, _stitch_args),
    ("transformer-reid", _reid, _reid_args),
    ("detections-video", _detections_video, _detections_video_args),
    ("tracklets-video", _tracklets_video, _tracklets_video_args),
    ("find-outliers-in-raw-data", _raw_outliers, _raw_outliers_args),
)
