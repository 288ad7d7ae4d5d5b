"""The pilot's console: the dashboard shows every field the pilot needs; typed lines drive the trigger."""

from __future__ import annotations

import io
import time

import pytest

from drone_agent.agent.capture_runtime import CaptureStatus
from drone_agent.agent.console import DashboardConsole, LineConsole
from drone_agent.agent.status import FlightStatus

STATUS = FlightStatus(
    utc="2026-11-24T10:00:00Z", link_up=True, mode="GUIDED", armed=True, lat_deg=51.27, lon_deg=0.52,
    height_agl_m=112.0, height_source="terrain", height_limit_m=120.0, boundary_margin_m=44.3,
    nearest_zone="Test area", time_to_breach_s=4.4, guard_phase="warned", gps_fix_type=3, satellites=12,
    gps_ok=True, ekf_ok=True, battery_remaining_pct=76,
    capture=CaptureStatus(recording=True, trigger_source="mavlink", recording_for_s=12.0, segments_sealed=3,
                          frames_seen=120, camera_error=None),
    free_disk_gb=73.4)


def test_dashboard_shows_what_the_pilot_needs(capsys: pytest.CaptureFixture[str]) -> None:
    console = DashboardConsole()
    console.show(STATUS)
    console.say("fence synced: 14 items read back identical; gate: permitted")
    console.close()
    screen = capsys.readouterr().out
    for text in ("GUIDED", "ARMED", "fix 3, 12 sats", "112.0 m of 120 m (terrain)", "44.3 m (Test area)",
                 "4.4 s", "warned", "REC", "12 s (mavlink)", "3 segment(s)", "73.4 GB", "76 %",
                 "gate: permitted", "Ctrl-C"):
        assert text in screen, text


def test_status_line_for_logs() -> None:
    line = STATUS.line()
    assert "\n" not in line and "rec=ON(3 sealed)" in line and "ttb=4.4s" in line and "gps=3/12" in line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_typed_lines_start_and_stop_recording() -> None:
    calls, said = [], []
    console = LineConsole(said.append, stdin=_Tty("r suspect vehicle KP-1\nx\ns\n"))
    console.bind_trigger(lambda start, **kw: calls.append((start, kw)), "r")
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [(True, {"reason": "suspect vehicle KP-1", "operator": "pilot"}),
                     (False, {"reason": "pilot stopped recording", "operator": "pilot"})]
    assert "r REASON" in said[0]


def test_no_trigger_input_without_a_terminal() -> None:
    said = []
    LineConsole(said.append, stdin=io.StringIO("r reason\n")).bind_trigger(lambda *a, **k: None, "r")
    assert said == []
