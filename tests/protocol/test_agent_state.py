"""Vehicle state snapshots folded from real ArduCopter telemetry (guided_fly_north_10ms.tlog)."""

from __future__ import annotations

import dataclasses

import pytest
from pymavlink import mavutil

from drone_agent.agent.state import StateTracker, VehicleState


def replay(path) -> list[VehicleState]:  # noqa: ANN001
    log = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
    tracker = StateTracker(1, 1)
    snapshots = []
    while (msg := log.recv_match()) is not None:
        before = tracker.state
        tracker.receive(msg, msg._timestamp)
        if tracker.state is not before:
            snapshots.append(tracker.state)
    return snapshots


def test_snapshots_follow_the_recorded_flight(sitl_fixtures) -> None:  # noqa: ANN001
    states = replay(sitl_fixtures / "guided_fly_north_10ms.tlog")
    assert max(s.ground_speed_mps for s in states) == pytest.approx(9.96, abs=0.05)
    modes = [s.mode for s in states]
    assert "GUIDED" in modes and "BRAKE" in modes and modes[-1] in ("RTL", "LAND", "GUIDED")
    assert any(s.armed for s in states) and not states[-1].armed
    flying = [s for s in states if s.armed and s.alt_rel_home_m and s.alt_rel_home_m > 25]
    assert flying and all(s.ekf_ok and s.gps_ok for s in flying)
    home = states[-1].home
    assert home is not None and home.lat_deg == pytest.approx(51.2705, abs=1e-4)
    assert any(s.alt_agl_m is not None for s in states)  # TERRAIN_REPORT
    assert max(s.position_seq for s in states) > 1000  # 10 Hz for > 100 s


def test_snapshots_are_immutable_and_shared_safely(sitl_fixtures) -> None:  # noqa: ANN001
    states = replay(sitl_fixtures / "guided_fly_north_10ms.tlog")
    with pytest.raises(dataclasses.FrozenInstanceError):
        states[0].lat_deg = 0.0  # type: ignore[misc]
    assert len({id(s) for s in states}) == len(states)


def test_messages_from_other_systems_are_ignored(sitl_fixtures) -> None:  # noqa: ANN001
    log = mavutil.mavlink_connection(
        str(sitl_fixtures / "boot_arm_takeoff_land.tlog"), dialect="ardupilotmega"
    )
    tracker = StateTracker(1, 1)
    while (msg := log.recv_match()) is not None:
        if msg.get_srcSystem() == 255:
            tracker.receive(msg, 0.0)
    assert tracker.state == VehicleState()


def test_fence_breach_reported(sitl_fixtures) -> None:  # noqa: ANN001
    states = replay(sitl_fixtures / "fence_upload_breach_rtl_10ms.tlog")
    breached = [s for s in states if s.fence_breached]
    assert breached and breached[0].fence_breach_type == 3  # BOUNDARY
    assert max(s.lat_deg for s in states if s.lat_deg) > 51.2705 + 150 / 111_250
