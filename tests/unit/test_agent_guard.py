"""The guard's decisions against the real compiled fence, with a simple point-mass vehicle that
brakes at ArduCopter's measured rate: stopped before the boundary at 5, 10, 15 m/s and in a 3 m/s
climb; warn → stop → breach escalation; hysteresis that lets the pilot fly away but not back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from drone_agent.agent.guard import (
    Action,
    GuardConfig,
    GuardState,
    Phase,
    decide,
    guard_config_from_table,
    kinematic_state,
)
from drone_agent.agent.state import VehicleState
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.errors import InputError
from drone_agent.geofence import GeoPoint, KinematicState, compile_fence, operation_from_zone_files

HOME = GeoPoint(51.2705, 0.5227, 30.0)
AREA_HALF_M = 150.0
CEILING_M = 120.0
BRAKE_DECEL_MPS2 = 2.58  # BRAKE from 9.96 m/s stopped in 19.4 m in real ArduCopter SITL


@pytest.fixture(scope="module")
def fence(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    path = tmp_path_factory.mktemp("zones") / "area.geojson"
    rectangle_zone_file(path, HOME.lat_deg, HOME.lon_deg, north_m=AREA_HALF_M, south_m=AREA_HALF_M,
                        east_m=AREA_HALF_M, west_m=AREA_HALF_M)
    op = operation_from_zone_files([path], home=HOME)
    return compile_fence(op, home=HOME, now_utc=datetime.now(UTC))


def vehicle_at(fence, north_m: float, up_m: float, v_north: float, v_up: float, t_s: float,  # noqa: ANN001
               mode: str = "GUIDED") -> VehicleState:
    lat, lon = fence.frame.to_geo(0.0, north_m)
    return VehicleState(
        time_boot_ms=int(t_s * 1000), lat_deg=lat, lon_deg=lon, alt_rel_home_m=up_m,
        vel_north_mps=v_north, vel_up_mps=v_up, custom_mode={"GUIDED": 4, "BRAKE": 17, "RTL": 6,
                                                             "LOITER": 5}[mode], armed=True,
    )


def fly(fence, v_north: float, v_up: float, *, start_north_m: float = 0.0, start_up_m: float = 30.0,  # noqa: ANN001
        latency_s: float = 0.2, rate_hz: float = 10.0, config: GuardConfig = GuardConfig()):  # noqa: ANN201
    """Point mass flying at a constant velocity until the guard stops it; returns the track and
    the decisions. The stop takes effect ``latency_s`` after the decision."""
    dt = 1.0 / rate_hz
    north, up, vn, vu, t = start_north_m, start_up_m, v_north, v_up, 0.0
    guard, decisions, track, stop_at = GuardState(), [], [], None
    mode = "GUIDED"
    while t < 120.0:
        state = vehicle_at(fence, north, up, vn, vu, t, mode)
        kin = kinematic_state(state, fence.frame, KinematicState)
        guard, decision = decide(guard, fence, kin, state, config)
        if decision.action is not Action.NONE:
            decisions.append((t, decision))
            if decision.action is Action.STOP and stop_at is None:
                stop_at = t + latency_s
        if stop_at is not None and t >= stop_at:
            mode = "BRAKE"
            speed = (vn**2 + vu**2) ** 0.5
            if speed < 1e-3:
                break
            new_speed = max(0.0, speed - BRAKE_DECEL_MPS2 * dt)
            vn, vu = vn * new_speed / speed, vu * new_speed / speed
        north += vn * dt
        up += vu * dt
        track.append((t, north, up))
        t += dt
    return track, decisions


@pytest.mark.parametrize("speed_mps", [5.0, 10.0, 15.0])
def test_stopped_before_the_inclusion_boundary(fence, speed_mps: float) -> None:  # noqa: ANN001
    track, decisions = fly(fence, speed_mps, 0.0)
    excursion_m = max(north for _, north, _ in track) - AREA_HALF_M
    assert max(excursion_m, 0.0) == 0.0
    actions = [d.action for _, d in decisions]
    assert actions[:2] == [Action.WARN, Action.STOP] and Action.RTL not in actions
    first_stop = next(d for _, d in decisions if d.action is Action.STOP)
    assert first_stop.mode == "BRAKE" and "Test area" in first_stop.reason


def test_climb_stopped_below_the_ceiling(fence) -> None:  # noqa: ANN001
    track, decisions = fly(fence, 0.0, 3.0)
    assert max(up for _, _, up in track) < CEILING_M
    assert Action.STOP in [d.action for _, d in decisions]
    stop = next(d for _, d in decisions if d.action is Action.STOP)
    assert "ceiling" in stop.reason


def test_crossing_anyway_triggers_the_configured_breach_action(fence) -> None:  # noqa: ANN001
    config = GuardConfig(breach_action="LAND")
    outside = vehicle_at(fence, AREA_HALF_M + 3, 30.0, 4.0, 0.0, 10.0, "BRAKE")
    kin = kinematic_state(outside, fence.frame, KinematicState)
    guard, decision = decide(GuardState(Phase.STOPPED), fence, kin, outside, config)
    assert decision.action is Action.LAND and decision.mode == "LAND" and guard.phase is Phase.BREACHED
    assert "boundary crossed" in decision.reason
    # not repeated while the vehicle is landing ...
    landing = replace(outside, custom_mode=9, time_boot_ms=11_000)
    guard, again = decide(guard, fence, kin, landing, config)
    assert again.action is Action.NONE
    # ... but re-asserted if someone switches out of LAND while still outside
    taken = replace(outside, custom_mode=4, time_boot_ms=14_000)
    guard, again = decide(guard, fence, kin, taken, config)
    assert again.action is Action.LAND


def test_pilot_may_fly_away_after_a_stop_but_not_back(fence) -> None:  # noqa: ANN001
    config = GuardConfig()
    near = 147.0  # inside the 5 m safety margin (effective boundary at 145 m)
    t = 20.0

    def step(guard, v_north: float, mode: str):  # noqa: ANN001, ANN202
        nonlocal t
        t += 0.1
        state = vehicle_at(fence, near, 30.0, v_north, 0.0, t, mode)
        return decide(guard, fence, kinematic_state(state, fence.frame, KinematicState), state, config)

    guard, d = step(GuardState(), 2.0, "GUIDED")
    assert d.action is Action.STOP
    guard, d = step(guard, 0.5, "BRAKE")  # still drifting on while braking: leave it alone
    assert d.action is Action.NONE
    for _ in range(20):  # pilot switches to LOITER and flies away (south): allowed
        guard, d = step(guard, -3.0, "LOITER")
        assert d.action is Action.NONE
    guard, d = step(guard, 2.0, "LOITER")  # ... then back towards the boundary: stopped again
    assert d.action is Action.STOP and "again" in d.reason


def test_speeding_up_towards_the_boundary_in_the_stop_mode_stops_again(fence) -> None:  # noqa: ANN001
    config = GuardConfig()
    state = vehicle_at(fence, 140.0, 30.0, 3.0, 0.0, 5.0)
    guard, d = decide(GuardState(), fence, kinematic_state(state, fence.frame, KinematicState),
                      state, config)
    assert d.action is Action.STOP
    # heartbeat still says BRAKE (1 Hz), but a second client is pushing it on at 4 m/s
    pushed = vehicle_at(fence, 140.5, 30.0, 4.0, 0.0, 5.2, "BRAKE")
    guard, d = decide(guard, fence, kinematic_state(pushed, fence.frame, KinematicState),
                      pushed, config)
    assert d.action is Action.STOP and "speeding up" in d.reason


def test_loiter_used_when_brake_is_unavailable(fence) -> None:  # noqa: ANN001
    state = vehicle_at(fence, 120.0, 30.0, 10.0, 0.0, 5.0)
    kin = kinematic_state(state, fence.frame, KinematicState)
    _, d = decide(GuardState(), fence, kin, state, GuardConfig(), stop_mode="LOITER")
    assert d.action is Action.STOP and d.mode == "LOITER"


def test_hover_in_the_middle_is_clear(fence) -> None:  # noqa: ANN001
    state = vehicle_at(fence, 0.0, 30.0, 0.0, 0.0, 1.0)
    guard, d = decide(GuardState(), fence, kinematic_state(state, fence.frame, KinematicState),
                      state, GuardConfig())
    assert d.action is Action.NONE and guard.phase is Phase.CLEAR


def test_no_position_yet_gives_no_kinematic_state(fence) -> None:  # noqa: ANN001
    assert kinematic_state(VehicleState(), fence.frame, KinematicState) is None


def test_guard_table_parsing() -> None:
    config = guard_config_from_table({"breach_action": "land", "stop_margin_s": 1.0})
    assert config.breach_action == "LAND" and config.stop_margin_s == 1.0
    with pytest.raises(InputError, match="unknown key"):
        guard_config_from_table({"stop_distance": 3})
    with pytest.raises(InputError, match="breach_action"):
        guard_config_from_table({"breach_action": "HOVER"})
    with pytest.raises(InputError, match="warn_margin_s"):
        guard_config_from_table({"warn_margin_s": -1})


def test_check_record_is_plain_json(fence) -> None:  # noqa: ANN001
    import json

    from drone_agent.agent.guard import check_record

    record = check_record(fence.check(KinematicState(0.0, 140.0, 30.0, 0.0, 10.0, 0.0)))
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert isinstance(record["must_stop"], bool) and isinstance(record["violations"], list)


def test_velocity_after_reaction_extrapolates_only_acceleration() -> None:
    from drone_agent.agent.guard import MAX_ACCEL_MPS2, velocity_after_reaction

    # accelerating north at 2.5 m/s²: after a 1 s reaction it will be 2.5 m/s faster
    history = tuple((t / 10, 0.0, 4.0 + 0.25 * t, 0.0) for t in range(5))
    ahead = velocity_after_reaction(history, 1.0)
    assert ahead is not None and ahead[1] == pytest.approx(5.0 + 2.5)
    # decelerating or steady: judged at the present speed
    assert velocity_after_reaction(tuple((t / 10, 0.0, 9.0 - 0.5 * t, 0.0) for t in range(5)), 1.0) is None
    assert velocity_after_reaction(tuple((t / 10, 3.0, 0.0, 0.0) for t in range(5)), 1.0) is None
    # too short a history, or a jump beyond what a copter can do (noise) is clipped
    assert velocity_after_reaction(((0.0, 0.0, 1.0, 0.0),), 1.0) is None
    jump = velocity_after_reaction(((0.0, 0.0, 0.0, 0.0), (0.4, 0.0, 20.0, 0.0)), 1.0)
    assert jump is not None and jump[1] == pytest.approx(20.0 + MAX_ACCEL_MPS2)
