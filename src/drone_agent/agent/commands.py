"""CLI subcommands of ``drone_agent.agent`` (registered by drone_agent.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
