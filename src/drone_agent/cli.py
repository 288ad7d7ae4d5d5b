"""The ``drone-agent`` command line: one parser, one subcommand module per package.

Every package that offers commands has a ``commands`` module with ``register(subparsers)``; each
subcommand sets ``func(args) -> int``. Errors derived from :class:`DroneAgentError` become one line on
stderr and their documented exit code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from drone_agent import __version__
from drone_agent.errors import DroneAgentError

COMMAND_MODULES = (
    "drone_agent.geofence.commands",
    "drone_agent.sim.commands",
    "drone_agent.agent.commands",
    "drone_agent.capture.commands",
    "drone_agent.evidence.commands",
    "drone_agent.store.commands",
    "drone_agent.report.commands",
    "drone_agent.demo.commands",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors end with a hint and exit code 2 like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"input: {message} -- see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="drone-agent",
        description="Keeps a police drone flight lawful and its footage lawful.",
    )
    parser.add_argument("--version", action="version", version=f"drone-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DroneAgentError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
