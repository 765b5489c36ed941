"""``creditlens``: the headless face of the same fetch and report functions the app uses.

One module per command; each has ``add_parser(subparsers)`` and a ``run(args) -> exit code``::

    creditlens export (--demo | --portal URL --username U [--ca-bundle PEM]) --start D --end D --report R ...
    creditlens emulator [--port N] [--members N] [--seed N] [--second-org] ...
    creditlens hash-access-code < code.txt

Passwords come from ``CREDITLENS_PASSWORD`` (environment or ``.env``) or a prompt, never a flag.
Every error is one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from creditlens.cli.common import EXIT_ERROR, CliError, fail, silence_stdout

__all__ = ["CliError", "build_parser", "main"]

#: The commands, in the order ``--help`` lists them: one line per module of ``creditlens.cli``
#: (its name, or the module itself). A new command adds one line here.
COMMANDS: tuple[str | ModuleType, ...] = (
    "export",
    "access_code",
    "alerts",
    "summary",
    "sync",
    "archive",
)


def command_module(entry: str | ModuleType) -> ModuleType:
    """The module behind one ``COMMANDS`` entry."""
    return entry if isinstance(entry, ModuleType) else importlib.import_module(f"creditlens.cli.{entry}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditlens", description="ArcGIS Online credit usage per member.")
    sub = parser.add_subparsers(dest="command", required=True)
    for entry in COMMANDS:
        command_module(entry).add_parser(sub)
    emulator = sub.add_parser("emulator", help="serve a synthetic org over HTTPS for trying the real login path")
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        from creditlens.fake.emulator import main as emulator_main

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("creditlens: interrupted", file=sys.stderr)
        return 130
    except CliError as exc:  # commands raise this with a message already safe to print
        return fail(str(exc))
    except BrokenPipeError:  # a reader that went away while a command printed (``| head``)
        silence_stdout()
        return fail("Standard output was closed before everything was written.")
    return EXIT_ERROR
