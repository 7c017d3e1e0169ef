"""The ``dlcflow`` command: project set-up and the steps run outside Snakemake.

Each subcommand imports the library module it runs when it runs, so that ``dlcflow
--help`` and the light commands start without TensorFlow. The subcommands that do what a
workflow stage does take the workflow's defaults from the library's options classes; the
parser gets the arguments of the subcommand that runs only (``build_parser(command)``), so
their modules are imported by that subcommand alone. The subcommands live in one module
per group (``project``, ``network``, ``post``, ``tracking``); ``main`` parses and runs.
"""

from dlcflow.cli.main import COMMANDS, HelpFormatter, build_parser, main, run

__all__ = ["COMMANDS", "HelpFormatter", "build_parser", "main", "run"]
