"""Tests against real ArduPilot SITL: run only when ARDUPILOT_SITL names an arducopter binary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    binary = os.environ.get("ARDUPILOT_SITL", "")
    here = Path(__file__).parent
    reason = None
    if not binary:
        reason = "ARDUPILOT_SITL is not set (it names an arducopter SITL binary)"
    elif not Path(binary).is_file():
        reason = f"ARDUPILOT_SITL={binary} is not a file"
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.sitl)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
