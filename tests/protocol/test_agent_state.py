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
    # SITL had no terrain data: TERRAIN_REPORT spacing 0 and current_height = height above 0 m
    # AMSL (60 m at 30 m above a 30 m AMSL home). Such reports must not be used as height.
    assert states[-1].terrain_reports > 50
    assert all(s.alt_agl_m is None for s in states)
    assert flying[0].height_agl_m == flying[0].alt_rel_home_m and flying[0].height_source == "home"
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


def test_valid_terrain_report_is_carried_forward_at_position_rate() -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    from drone_agent.agent.codec import Codec

    def wire(msg):  # noqa: ANN001, ANN202
        return Codec(254, 191).feed(Codec(1, 1).encode(msg, 0.0), 0.0)[0]

    tracker = StateTracker(1, 1)
    position = mavlink.MAVLink_global_position_int_message(0, 512705000, 5227000, 60000, 30000, 0, 0, 0, 0)
    tracker.receive(wire(position), 0.0)
    tracker.receive(wire(mavlink.MAVLink_terrain_report_message(512705000, 5227000, 100, 25.0, 35.0, 0, 1)), 0.1)
    assert tracker.state.height_agl_m == 35.0 and tracker.state.height_source == "terrain"
    position.relative_alt = 33000  # climbed 3 m since the 1 Hz terrain report
    tracker.receive(wire(position), 0.2)
    assert tracker.state.height_agl_m == pytest.approx(38.0)
    tracker.receive(wire(mavlink.MAVLink_terrain_report_message(512705000, 5227000, 0, 0.0, 63.0, 336, 0)), 0.3)
    assert tracker.state.height_agl_m == 33.0 and tracker.state.height_source == "home"
