"""`drone-agent demo --sitl`: the whole sortie against real ArduPilot SITL (ARDUPILOT_SITL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.cli import main


def test_demo_passes_against_real_sitl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--sitl", "--out", str(tmp_path / "demo")]) == 0
    assert "demo PASSED" in capsys.readouterr().out
