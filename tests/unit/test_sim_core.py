"""Pure-core tests of the simulator: dynamics, geo, boot timeline, streams, routing, params."""

from __future__ import annotations

import math

import pytest

from drone_agent.sim.boot import BootTimeline
from drone_agent.sim.dynamics import (DT_S, AxisLimits, Body, Demand, sqrt_controller, step,
                                      top_speed_mps)
from drone_agent.sim.geo import Origin
from drone_agent.sim.params import DEFAULTS, ParamStore
from drone_agent.sim.routing import RouteTable
from drone_agent.sim.streams import LinkStreams
from drone_agent.sim.terrain import Terrain

H = AxisLimits(10.0, 0.0, 2.5, 5.0, 1.4)
V = AxisLimits(2.5, 1.5, 1.0, 5.0, 0.5)


def fly(body: Body, demand: Demand, seconds: float, wind=(0.0, 0.0)) -> None:
    for _ in range(round(seconds / DT_S)):
        step(body, demand, DT_S, wind, -1000.0)


def test_velocity_command_reaches_but_never_exceeds_wp_spd():
    body = Body(up_m=30.0, on_ground=False)
    peak = 0.0
    for _ in range(round(12 / DT_S)):
        step(body, Demand(H, V, vel_ne_mps=(20.0, 0.0), pos_up_m=30.0), DT_S, (0, 0), -1000)
        peak = max(peak, body.ground_speed_mps)
    assert 9.9 < peak <= 10.0 + 1e-9
    assert abs(body.ve_mps) < 1e-9


def test_acceleration_is_limited_to_wp_acc():
    body = Body(up_m=30.0, on_ground=False)
    prev = 0.0
    for _ in range(round(5 / DT_S)):
        step(body, Demand(H, V, vel_ne_mps=(10.0, 0.0), pos_up_m=30.0), DT_S, (0, 0), -1000)
        assert (body.vn_mps - prev) / DT_S <= 2.5 + 1e-6
        prev = body.vn_mps


def test_position_target_arrives_without_overshoot():
    body = Body(up_m=30.0, on_ground=False)
    fly(body, Demand(H, V, pos_ne_m=(100.0, 0.0), pos_up_m=30.0), 40.0)
    assert body.north_m == pytest.approx(100.0, abs=0.3)
    assert body.ground_speed_mps < 0.1


def test_climb_rate_limited_to_wp_spd_up_and_ground_stops_descent():
    body = Body()
    fly(body, Demand(H, V, vel_up_mps=5.0), 10.0)
    assert body.vu_mps == pytest.approx(2.5, abs=0.01)
    fly(body, Demand(H, V, vel_up_mps=-5.0), 20.0)
    assert body.vu_mps == pytest.approx(-1.5, abs=0.01)


def test_landing_on_ground_sets_on_ground_and_zero_velocity():
    body = Body(up_m=5.0, on_ground=False)
    for _ in range(round(20 / DT_S)):
        step(body, Demand(H, V, vel_up_mps=-1.0), DT_S, (0, 0), 0.0)
    assert body.on_ground and body.up_m == 0.0 and body.vu_mps == 0.0
    assert body.touchdown_speed_mps == pytest.approx(1.0, abs=0.05)


def test_steady_wind_is_rejected_by_the_position_hold():
    body = Body(up_m=30.0, on_ground=False)
    fly(body, Demand(H, V, pos_ne_m=(0.0, 0.0), pos_up_m=30.0), 60.0, wind=(0.0, 8.0))
    assert math.hypot(body.north_m, body.east_m) < 0.5


def test_sqrt_controller_matches_ardupilot_shape():
    assert sqrt_controller(0.5, 1.0, 2.5) == pytest.approx(0.5)  # linear region
    assert sqrt_controller(100.0, 1.0, 2.5) == pytest.approx(math.sqrt(2 * 2.5 * (100 - 1.25)))
    assert sqrt_controller(-100.0, 1.0, 2.5) < 0


def test_origin_round_trip_and_ardupilot_scaling():
    o = Origin(51.2705, 0.5227, 30.0)
    n, e = o.to_ne(51.2718474, 0.5227)
    assert n == pytest.approx(149.99, abs=0.05) and e == pytest.approx(0.0)
    lat, lon = o.to_geo(-150.0, 100.0)
    assert o.to_ne(lat, lon) == pytest.approx((-150.0, 100.0))


def test_terrain_is_home_altitude_at_home_and_hilly_elsewhere():
    t = Terrain(30.0, seed=3)
    assert t.height_amsl_m(0.0, 0.0) == pytest.approx(30.0)
    heights = [t.height_amsl_m(n, e) for n in range(-500, 501, 100) for e in range(-500, 501, 100)]
    assert max(heights) - min(heights) > 5.0


def test_boot_timeline_matches_fixture_stages():
    b = BootTimeline.create(fast_boot=False)
    assert b.prearm_failures(1.0, False) == ["System not initialised"]
    assert "Fence requires position" in b.prearm_failures(8.0, True)
    assert "Fence requires position" not in b.prearm_failures(8.0, False)
    assert b.prearm_failures(30.0, True) == ["Need Position Estimate"]
    assert b.prearm_failures(41.0, False) and not b.prearm_failures(41.4, False)
    fast = BootTimeline.create(fast_boot=True)
    assert not fast.prearm_failures(1.1, True)
    texts = [t for _, t in b.messages_between(0.0, 42.0, 30.0)]
    assert texts.index("ArduPilot Ready") < texts.index("EKF3 IMU0 is using GPS")
    assert "Field Elevation Set: 30m" in texts


def test_streams_interval_default_and_disable():
    s = LinkStreams()
    assert s.set_interval(33, 100_000, 0.0)
    sent = [t for t in (i * 0.02 for i in range(101)) if 33 in s.due(t)]
    assert len(sent) == 21  # 10 Hz over 0..2 s inclusive of both ends
    assert s.set_interval(33, -1, 2.0) and 33 not in s.due(10.0)
    assert not s.set_interval(9999, 100_000, 0.0)
    s.request_stream(10, 20.0, True, 0.0)  # EXTRA1: ATTITUDE, SIM_STATE
    assert s.interval_s(108) == pytest.approx(0.05)


def test_routing_like_ardupilot():
    r = RouteTable(1, 1)
    r.learn(1, 255, 190)  # GCS on link 1
    r.learn(2, 1, 100)  # camera component on link 2 (agent)
    r.learn(2, 1, 1)  # our own address is never learned
    assert r.route(1, 1, 100) == (False, {2})
    assert r.route(1, 1, 1) == (True, set())
    assert r.route(1, 1, 0) == (True, {2})
    assert r.route(2, None, None) == (True, {1})
    assert r.route(2, 0, 0) == (True, {1})
    assert r.route(1, 7, 1) == (False, set())  # no route: dropped
    assert r.route(2, 255, 190) == (False, {1})
    r.forget_link(2)
    assert r.route(1, 1, 100) == (False, set())


def test_params_defaults_types_and_rounding():
    p = ParamStore({"FENCE_ENABLE": 1})
    assert p["WP_SPD"] == 10.0 and p["WP_ACC"] == 2.5 and "RTL_ALT_M" in p
    assert p["FENCE_ENABLE"] == 1.0
    assert p.set("FENCE_TYPE", 6.7) == 7.0  # INT8 rounds
    assert p.set("NO_SUCH", 1) is None
    assert p.name_at(p.index("WP_SPD")) == "WP_SPD"
    assert list(p) == sorted(DEFAULTS)
    with pytest.raises(KeyError):
        ParamStore({"NO_SUCH": 1})


def test_top_speed_fitted_to_real_sitl_angle_max_points():
    assert ParamStore()["ANGLE_MAX"] == 3000.0 and ParamStore().type_of("ANGLE_MAX") == 4  # INT16
    assert top_speed_mps(3000) == pytest.approx(10.0)  # SITL: levels off at 10.0 m/s, pitch -30°
    assert top_speed_mps(6000) >= 15.4  # SITL: reached 15.4 m/s at ANGLE_MAX 6000
    assert top_speed_mps(1000) < top_speed_mps(4500) < top_speed_mps(6000) < top_speed_mps(9000)
    assert top_speed_mps(9000) == top_speed_mps(8000)  # ANGLE_MAX range 1000..8000


def test_streams_align_equal_rates_and_send_truth_first():
    s = LinkStreams()
    for msg_id, at in ((108, 0.02), (30, 0.04), (285, 0.06)):
        s.set_interval(msg_id, 100_000, at)
    steps = [round(i * 0.02, 2) for i in range(1, 30)]
    sent = {t: [m for m in s.due(t) if m in (30, 108, 285)] for t in steps}
    together = [t for t, ids in sent.items() if ids]
    assert together == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(sent[t] == [108, 285, 30] for t in together)
