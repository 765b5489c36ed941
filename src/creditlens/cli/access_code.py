"""``creditlens hash-access-code``: the salted hash of a shared access code for a team deployment."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from creditlens.cli.common import CliError
from creditlens.deployment import hash_access_code


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "hash-access-code",
        help="make the salted hash of a shared access code for .streamlit/secrets.toml (reads the code from a "
        "prompt or standard input)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(hash_access_code(read_access_code()))
    return 0


def read_access_code(prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The code to hash: asked twice on a terminal, or the first line of standard input."""
    if sys.stdin and sys.stdin.isatty():
        code = prompt("Access code: ")
        if prompt("Again: ") != code:
            raise CliError("The two codes differ.")
    else:
        code = sys.stdin.readline().rstrip("\n")
    if len(code) < 8:
        raise CliError("Use an access code of at least 8 characters.")
    return code
