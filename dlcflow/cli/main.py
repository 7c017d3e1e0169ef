"""The ``dlcflow`` parser and entry point: one line per error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from dlcflow.cli import labeled3d, network, nwb, post, project, threed, tracking, triangulate
from dlcflow.cli.common import Command
from dlcflow.core.log import install_plain_warnings
from dlcflow.core.quiet import filter_native_stderr

#: Every subcommand, in the order of ``dlcflow --help``.
COMMANDS: tuple[Command, ...] = (
    project.COMMANDS[:4]
    + network.COMMANDS
    + tracking.COMMANDS
    + post.COMMANDS
    + nwb.COMMANDS
    + threed.COMMANDS
    + triangulate.COMMANDS
    + labeled3d.COMMANDS
    + project.COMMANDS[4:]
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
