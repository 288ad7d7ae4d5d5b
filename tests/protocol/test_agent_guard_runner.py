"""The guard wired to the link: a position update towards the boundary becomes a STATUSTEXT, then
a BRAKE command at once, each audited with its cause; a refused BRAKE falls back to LOITER."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.guard import GuardConfig
from drone_agent.agent.guard_runner import GuardRunner
from drone_agent.agent.session import Peer
from drone_agent.agent.state import StateTracker
from drone_agent.agent.status import flight_status
from drone_agent.agent.testing import MockClock, rectangle_zone_file
from drone_agent.geofence import GeoPoint, KinematicState, compile_fence, operation_from_zone_files

HOME = GeoPoint(51.2705, 0.5227, 30.0)
PEER = Peer(1, 1, 254, 191)


def from_vehicle(msg: mavlink.MAVLink_message) -> mavlink.MAVLink_message:
    return Codec(254, 191).feed(Codec(1, 1).encode(msg, 0.0), 0.0)[0]


@pytest.fixture
def rig(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "area.geojson"
    rectangle_zone_file(path, HOME.lat_deg, HOME.lon_deg, north_m=150, south_m=150, east_m=150,
                        west_m=150)
    fence = compile_fence(operation_from_zone_files([path], home=HOME), home=HOME,
                          now_utc=datetime.now(UTC))
    tracker = StateTracker(1, 1)
    sent, audit = [], []
    clock = MockClock()
    runner = GuardRunner(fence, KinematicState, GuardConfig(), PEER, lambda: tracker.state,
                         sent.extend, lambda event, **f: audit.append((event, f)), clock, clock)

    def position(t_s: float, north_m: float, vn_mps: float) -> None:
        clock.jump_to(t_s)
        lat, lon = fence.frame.to_geo(0.0, north_m)
        msg = from_vehicle(mavlink.MAVLink_global_position_int_message(
            int(t_s * 1000), int(lat * 1e7), int(lon * 1e7), 60000, 30000, int(vn_mps * 100), 0, 0, 0))
        tracker.receive(msg, t_s)
        runner.receive(msg, t_s)

    return runner, tracker, sent, audit, position, clock, fence


def test_warn_then_stop_sent_immediately_and_audited(rig) -> None:  # noqa: ANN001
    runner, tracker, sent, audit, position, _, _ = rig
    position(1.0, 30.0, 10.0)  # 115 m from the effective boundary: 11.5 s away
    assert sent == []
    position(1.1, 80.0, 10.0)
    assert sent[-1].get_type() == "STATUSTEXT" and sent[-1].text == "Agent: Test area breach in 6s"
    position(1.2, 112.0, 10.0)
    command, announce = sent[-2], sent[-1]
    assert announce.text == "Agent BRAKE: near Test area" and announce.severity == 2
    assert command.get_type() == "COMMAND_LONG" and (command.command, command.param2) == (176, 17.0)
    events = [e for e, _ in audit]
    assert events == ["guard_warn", "guard_stop"]
    stop = audit[1][1]
    json.dumps(audit, allow_nan=False)  # what the evidence audit log will store: plain JSON
    assert stop["mode"] == "BRAKE" and stop["state"]["vel_north_mps"] == 10.0
    assert stop["check"]["must_stop"] in (True, False) and stop["check"]["time_to_breach_s"] > 0
    assert [r.action for r in runner.reactions] == ["warn", "stop"]


def test_refused_brake_falls_back_to_loiter(rig) -> None:  # noqa: ANN001
    runner, tracker, sent, audit, position, clock, _ = rig
    position(1.0, 112.0, 10.0)
    assert sent[-2].param2 == 17.0
    ack = from_vehicle(mavlink.MAVLink_command_ack_message(176, mavlink.MAV_RESULT_DENIED, 0, 0, 254, 191))
    runner.receive(ack, 1.05)
    clock.jump_to(1.5)
    runner.poll(1.5)  # the STATUSTEXT grace has passed: the refusal is final
    assert sent[-1].get_type() == "COMMAND_LONG" and sent[-1].param2 == 5.0  # LOITER
    assert runner.stop_mode == "LOITER"
    assert ("guard_command_failed" in [e for e, _ in audit])


def test_status_snapshot_renders_one_line(rig) -> None:  # noqa: ANN001
    runner, tracker, _, _, position, _, fence = rig
    position(1.0, 80.0, 10.0)
    status = flight_status(tracker.state, True, runner.last_decision.check,
                           runner.guard.phase.value, 120.0)
    line = status.line()
    assert "\n" not in line and "link=up" in line and "h=30.0/120m(home)" in line
    assert "guard=warned" in line and "boundary=" in line and "rec=-" in line


def test_long_statustext_goes_in_mavlink2_chunks() -> None:
    from types import SimpleNamespace

    from drone_agent.agent.guard import Action
    from drone_agent.agent.guard_runner import _statustext

    zone = "EXAMPLE operation area (Maidstone demo field, north edge)"
    check = SimpleNamespace(breach_zone=None, nearest_zone=zone, time_to_breach_s=4.2)
    decision = SimpleNamespace(action=Action.STOP, mode="BRAKE", check=check)
    chunks = _statustext(decision, 7)  # type: ignore[arg-type]
    assert len(chunks) == 2 and {c.id for c in chunks} == {7} and [c.chunk_seq for c in chunks] == [0, 1]
    decoded = [from_vehicle(c) for c in chunks]
    assert "".join(c.text for c in decoded) == f"Agent BRAKE: near {zone}"
    short = _statustext(SimpleNamespace(action=Action.STOP, mode="BRAKE",  # type: ignore[arg-type]
                                        check=SimpleNamespace(breach_zone="Area", nearest_zone=None,
                                                              time_to_breach_s=1.0)), 8)
    assert len(short) == 1 and short[0].id == 0 and short[0].text == "Agent BRAKE: near Area"
