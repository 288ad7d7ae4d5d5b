"""`drone-agent demo` end to end: every step passes and leaves verifiable, uploaded, reported evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.cli import main
from drone_agent.evidence import read_flight_summary, verify_flight


@pytest.mark.slow
def test_demo_flies_the_whole_sortie(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "demo PASSED" in printed and "FAIL" not in printed
    flights = list((out / "flights").iterdir())
    assert len(flights) == 1
    report = verify_flight(flights[0])
    assert report.intact and report.complete
    summary = read_flight_summary(flights[0])
    assert summary.segments and summary.stills
    events = (flights[0] / "audit.jsonl").read_text()
    for event in ("preflight_gate", "guard_stop", "trigger_start", "trigger_stop", "upload", "landed_disarmed"):
        assert f'"event":"{event}"' in events.replace(" ", ""), event
    assert (out / "report.html").is_file() and (out / "report.png").is_file()
    assert list((out / "decrypted").rglob("*.mp4"))


def test_demo_refuses_a_used_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old").write_text("x")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_demo_refuses_a_silly_speedup(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--speedup", "50", "--out", str(tmp_path / "d")]) == 2
    assert "--speedup" in capsys.readouterr().err
