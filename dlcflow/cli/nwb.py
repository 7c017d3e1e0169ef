"""The ``dlcflow export-nwb`` subcommand: pose files as NWB files (ndx-pose)."""

from __future__ import annotations

import argparse

from dlcflow.cli.common import CONFIG_HELP, Command, model_args


def _export_nwb(args: argparse.Namespace) -> None:
    from dlcflow.post.nwbexport import export_nwb, export_pose_file

    if not args.videos and not args.poses:
        raise ValueError("give videos (their pose files are exported) or --poses FILE")
    for poses in args.poses or ():
        meta = {"metadata": args.metadata, "subject": args.subject}
        print(export_pose_file(poses, config=args.config, fps=args.fps, **meta))
    if args.videos:
        for path in export_nwb(
            args.config,
            args.videos,
            videotype=args.videotype,
            shuffle=args.shuffle,
            trainingsetindex=args.trainingsetindex,
            filtered=args.filtered,
            destfolder=args.destfolder,
            track_method=args.track_method,
            metadata=args.metadata,
            subject=args.subject,
            overwrite=args.overwrite,
        ):
            print(path)


def _export_nwb_args(p: argparse.ArgumentParser) -> None:
    """pose files as NWB files with ndx-pose (the `nwb` target)"""
    p.add_argument("config", help=CONFIG_HELP + " (its skeleton goes into the files)")
    p.add_argument("videos", nargs="*", help="analyzed video files or folders")
    p.add_argument("--videotype", default="", help="video extension in folders (default: any)")
    model_args(p)
    p.add_argument(
        "--destfolder", default=None, help="folder of the pose files (default: beside each video)"
    )
    p.add_argument(
        "--track-method",
        default="",
        choices=["", "ellipse", "box", "skeleton"],
        help="multi-animal: the tracks to use (default: the config's default_track_method)",
    )
    p.add_argument("--filtered", action="store_true", help="export the filtered pose files")
    p.add_argument("--metadata", default=None, help="YAML of session and subject fields")
    p.add_argument("--subject", default=None, help="the subject id (wins over the YAML's)")
    p.add_argument(
        "--poses", nargs="+", help="pose files (2D, tracks or _DLC_3D.h5) to export as they are"
    )
    p.add_argument("--fps", type=float, default=None, help="--poses: frames per second")
    p.add_argument("--overwrite", action="store_true", help="export again where done")


COMMANDS: tuple[Command, ...] = (("export-nwb", _export_nwb, _export_nwb_args),)
