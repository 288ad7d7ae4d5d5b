"""The simulator's AC_Fence model and the fence mission protocol (sans-IO)."""

from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.sim import fence as fz
from drone_agent.sim import modes as md
from drone_agent.sim.geo import Origin
from drone_agent.sim.mission import FenceTransfer
from drone_agent.sim.vehicle import Vehicle

HOME = Origin(51.2705, 0.5227, 30.0)
# the fixture's fence: inclusion pentagon, exclusion circle r 40 m at 120 m E, exclusion square
FIXTURE_ITEMS = [
    (5001, 5, 512718474, 5227000), (5001, 5, 512708593, 5248537),
    (5001, 5, 512691525, 5241358), (5001, 5, 512691525, 5212641),
    (5001, 5, 512708593, 5205462), (5004, 40, 512705000, 5244229),
    (5002, 4, 512699610, 5218385), (5002, 4, 512699610, 5222692),
    (5002, 4, 512696915, 5222692), (5002, 4, 512696915, 5218385),
]
CFG = fz.FenceConfig(types=7, alt_max_m=100, alt_min_m=-10, radius_m=300, margin_m=2, action=1,
                     options=0)


def items(rows=FIXTURE_ITEMS):
    return [fz.FenceItem(c, float(p), lat, lon) for c, p, lat, lon in rows]


def test_validate_accepts_fixture_fence_and_rejects_two_vertices():
    assert fz.validate_items(items()) == []
    bad = items([(5001, 2, 512705898, 5228435), (5001, 2, 512706796, 5228435)])
    assert fz.validate_items(bad) == ["Invalid vertex count (2)", "Fence validation failed"]


@pytest.mark.parametrize("rows, first", [
    ([(5001, 3, 1, 1), (5001, 3, 1, 2)], "Incorrect item count"),
    ([(5001, 3, 1, 1), (5001, 4, 1, 2), (5001, 3, 2, 2)], "Unexpected vertex count want=3 got=4"),
    ([(5003, 0, 1, 1)], "Non-positive circle radius"),
    ([(5000, 0, 1, 1), (5000, 0, 1, 1)], "Multiple return points"),
    ([(5004, 10, 950_000_000, 1)], "Bad lat or lon"),
])
def test_validate_errors(rows, first):
    assert fz.validate_items(items(rows))[0] == first


def test_breach_geometry_of_fixture_fence():
    zones = fz.zones_from_items(items(), HOME)
    assert not fz.polygon_breached(0, 0, zones, union=False)
    assert fz.polygon_breached(151, 0, zones, union=False)  # beyond the north vertex
    assert fz.polygon_breached(0, 110, zones, union=False)  # inside the exclusion circle
    assert fz.polygon_breached(-75, -45, zones, union=False)  # inside the exclusion square
    assert not fz.polygon_breached(-75, 0, zones, union=False)


def test_fence_state_counts_types_backup_and_clear():
    zones = fz.zones_from_items(items(), HOME)
    st = fz.FenceState()
    cfg = fz.FenceConfig(7, 100, -10, 150, 2, 1, 0)
    assert st.check(cfg, zones, 100, 0, 30, 1.0, 1000) == 0
    new = st.check(cfg, zones, 151, 0, 30, 2.0, 2000)
    assert new == fz.TYPE_CIRCLE | fz.TYPE_POLYGON and st.breach_count == 2
    assert st.breach_type == fz.BREACH_BOUNDARY and st.breach_time_ms == 2000
    assert st.check(cfg, zones, 160, 0, 30, 2.1, 2100) == 0  # still inside the circle's backup
    assert st.check(cfg, zones, 172, 0, 30, 2.2, 2200) == fz.TYPE_CIRCLE  # backup fence (+20 m)
    st.check(cfg, zones, 0, 0, 30, 3.0, 3000)
    assert st.breached == 0
    assert st.check(cfg, zones, 0, 0, 101, 4.0, 4000) == fz.TYPE_ALT_MAX
    assert st.breach_type == fz.BREACH_MAXALT


def test_union_option_breaches_only_outside_all_inclusions():
    zones = fz.Zones(inclusion_circles=((0, 0, 50), (80, 0, 50)))
    assert fz.polygon_breached(80, 0, zones, union=False)
    assert not fz.polygon_breached(80, 0, zones, union=True)
    assert fz.polygon_breached(200, 0, zones, union=True)


def test_avoidance_slides_along_and_stops_short_of_boundary():
    zones = fz.zones_from_items(items(), HOME)
    (vn, ve), _, limited = fz.limit_velocity(140, 0, 30, (10, 0), 0, CFG, zones, 2.5, 1.0)
    assert limited and vn < 10
    (vn, ve), _, limited = fz.limit_velocity(0, 0, 30, (10, 0), 0, CFG, zones, 2.5, 1.0)
    assert not limited and vn == 10
    _, vu, limited = fz.limit_velocity(0, 0, 97.5, (0, 0), 3.0, CFG, zones, 2.5, 1.0)
    assert limited and vu == pytest.approx(0.5)


SQUARE = fz.Zones(inclusion_polygons=(((-200.0, -200.0), (200.0, -200.0), (200.0, 200.0),
                                        (-200.0, 200.0)),))
SQUARE_CFG = fz.FenceConfig(types=4, alt_max_m=100, alt_min_m=-10, radius_m=300, margin_m=2,
                            action=1, options=0)


def test_avoidance_decelerates_at_ac_avoid_1_mps2_with_the_sqrt_controller():
    """AC_Avoid: accel min(WP_ACC, AC_AVOID_ACCEL_CMSS_MAX = 1 m/s²), get_max_speed = sqrt
    controller with the position P: 10 m/s is allowed from 50.5 m before the margin line."""
    def allowed(north_m: float, accel: float = 2.5, pos_p: float = 1.0) -> float:
        (vn, _), _, _ = fz.limit_velocity(north_m, 0, 30, (20.0, 0), 0, SQUARE_CFG, SQUARE, accel,
                                          2.5, pos_p=pos_p)
        return vn
    line = 200.0 - 2.0
    assert allowed(line - 50.5) == pytest.approx(10.0)  # v²/2a + a/2p² with a = 1, p = 1
    assert allowed(line - 20.5) == pytest.approx(math.sqrt(2 * 1.0 * 20.0))
    assert allowed(line - 20.5, accel=5.0) == allowed(line - 20.5)  # WP_ACC above the cap
    assert allowed(line - 20.5, accel=0.5) == pytest.approx(math.sqrt(2 * 0.5 * (20.5 - 0.25)))
    assert allowed(line - 0.5) == pytest.approx(0.5)  # linear close in: P x distance
    assert allowed(line - 0.5, pos_p=0.5) == pytest.approx(0.25)
    assert allowed(line + 0.5) == 0.0
    # climb: min(WP_ACC_Z, 1) and PSC_D_POS_P, 50.5 m below FENCE_ALT_MAX - margin -> 10 m/s
    _, vu, _ = fz.limit_velocity(0, 0, 100 - 2 - 50.5, (0, 0), 20.0, CFG,
                                 fz.Zones(), 2.5, 2.5)
    assert vu == pytest.approx(10.0)


def test_avoid_enable_starts_slowing_50_m_before_the_margin_line_at_10_mps():
    """As in real SITL (AVOID_ENABLE on, 10 m/s towards the fence): the vehicle keeps 10 m/s until
    ~50 m before the FENCE_MARGIN line, then follows the 1 m/s² sqrt curve a little above it (real
    SITL: +0.5..0.7 m/s) and stops around the line, inside the fence."""
    v, peer = vehicle_with_fence(AVOID_ENABLE=3, FENCE_TYPE=4)
    v.fence_zones = SQUARE
    cmd(v, peer, 176, 1, md.GUIDED)
    cmd(v, peer, 400, 1)
    cmd(v, peer, 22, 0, 0, 0, 0, 0, 0, 30)
    v.advance(v.now_s + 25)
    line = 200.0 - v.params["FENCE_MARGIN"]
    slowing_at = None
    furthest = 0.0
    above_curve = []
    for _ in range(250):  # 50 s of 10 m/s north, resent at 5 Hz
        v.handle(peer(mavlink.MAVLink_set_position_target_local_ned_message(
            0, 1, 1, 1, 0b110111000111, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0)), 1)
        for _ in range(10):
            v.advance(v.now_s + 0.02)
            furthest = max(furthest, v.body.north_m)
            if slowing_at is None and v.avoid_limited:
                slowing_at = line - v.body.north_m
                assert v.body.vn_mps == pytest.approx(10.0, abs=0.05)
            to_line = line - v.body.north_m
            if 5.0 < to_line < 40.0:
                above_curve.append(v.body.vn_mps - math.sqrt(2 * 1.0 * (to_line - 0.5)))
    assert slowing_at is not None and 48.0 < slowing_at < 52.0
    assert 0.2 < min(above_curve) and max(above_curve) < 1.0
    assert line - 0.5 < furthest < line + 2.0  # 0.4 m inside the fence at worst
    assert v.body.ground_speed_mps < 0.05 and v.fence_state.breached == 0


def test_fence_names_like_ardupilot():
    assert fz.fence_names(fz.TYPE_ALT_MAX) == "Max Alt"
    assert fz.fence_names(fz.TYPE_CIRCLE | fz.TYPE_POLYGON) == "Circle and Polygon"


class Peer:
    def __init__(self) -> None:
        self.enc = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        self.dec = mavlink.MAVLink(None)

    def __call__(self, msg):
        return self.dec.decode(bytearray(msg.pack(self.enc)))


def upload(t: FenceTransfer, rows, now=0.0):
    peer = Peer()
    replies, texts, accepted = t.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, len(rows), 1)), now)
    seen_requests = []
    for _ in range(len(rows)):
        (req,) = replies
        assert req.get_type() == "MISSION_REQUEST" and req.mission_type == 1
        seen_requests.append(req.seq)
        cmd, p1, lat, lon = rows[req.seq]
        item = mavlink.MAVLink_mission_item_int_message(1, 1, req.seq, 0, cmd, 0, 1, p1, 0, 0, 0,
                                                        lat, lon, 0.0, 1)
        replies, texts, accepted = t.handle(peer(item), now)
    return seen_requests, replies, texts, accepted


def test_fence_upload_download_and_invalid_upload_like_fixture():
    t = FenceTransfer(512705000, 5227000, 30.0)
    seqs, (ack,), texts, accepted = upload(t, FIXTURE_ITEMS)
    assert seqs == list(range(10))
    assert ack.get_type() == "MISSION_ACK" and ack.type == 0 and ack.mission_type == 1
    assert texts == [(7, "Fence Indexed OK")] and len(accepted) == 10
    peer = Peer()
    (count,), _, _ = t.handle(peer(mavlink.MAVLink_mission_request_list_message(1, 1, 1)), 1.0)
    assert count.count == 10
    back = []
    for seq in range(10):
        (item,), _, _ = t.handle(peer(mavlink.MAVLink_mission_request_int_message(1, 1, seq, 1)), 1.0)
        back.append((item.command, item.param1, item.x, item.y, item.z))
    assert back == [(c, float(p), lat, lon, 0.0) for c, p, lat, lon in FIXTURE_ITEMS]
    _, (ack,), texts, accepted = upload(t, [(5001, 2, 512705898, 5228435), (5001, 2, 512706796, 5228435)])
    assert ack.type == 1 and accepted is None
    assert [x for _, x in texts] == ["Invalid vertex count (2)", "Fence validation failed"]
    assert len(t.items) == 10  # the stored fence survives a rejected upload


def test_upload_resends_request_and_times_out():
    t = FenceTransfer(0, 0, 0.0)
    peer = Peer()
    t.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, 3, 1)), 0.0)
    assert t.poll(0.5) == []
    (again,) = t.poll(1.1)
    assert again.get_type() == "MISSION_REQUEST" and again.seq == 0
    (cancel,) = t.poll(9.0)
    assert cancel.type == mavlink.MAV_MISSION_OPERATION_CANCELLED


def test_unsupported_frame_and_mission_type():
    t = FenceTransfer(0, 0, 0.0)
    peer = Peer()
    (ack,), _, _ = t.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, 2, 0)), 0.0)
    assert ack.type == mavlink.MAV_MISSION_UNSUPPORTED
    t.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, 3, 1)), 0.0)
    item = mavlink.MAVLink_mission_item_int_message(1, 1, 0, 1, 5001, 0, 1, 3, 0, 0, 0, 1, 1, 0, 1)
    (ack,), _, _ = t.handle(peer(item), 0.0)
    assert ack.type == mavlink.MAV_MISSION_UNSUPPORTED_FRAME


def vehicle_with_fence(**params) -> tuple[Vehicle, Peer]:
    v = Vehicle((51.2705, 0.5227, 30.0), fast_boot=True,
                params={"FENCE_ENABLE": 1, "AVOID_ENABLE": 0, **params})
    v.add_link(1)
    peer = Peer()
    v.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, 10, 1)), 1)
    for seq, (cmd, p1, lat, lon) in enumerate(FIXTURE_ITEMS):
        v.handle(peer(mavlink.MAVLink_mission_item_int_message(1, 1, seq, 0, cmd, 0, 1, p1, 0, 0, 0,
                                                               lat, lon, 0.0, 1)), 1)
    v.advance(1.2)
    return v, peer


def cmd(v: Vehicle, peer: Peer, command: int, *p: float) -> int:
    params = list(p) + [0.0] * (7 - len(p))
    out = v.handle(peer(mavlink.MAVLink_command_long_message(1, 1, command, 0, *params)), 1)
    return [m for _, m in out if m.get_type() == "COMMAND_ACK"][0].result


def test_breach_at_10mps_triggers_rtl_and_fence_status_boundary():
    v, peer = vehicle_with_fence()
    assert v.params["FENCE_TOTAL"] == 12.0  # write_fence: 5 + 1 circle + 4 vertices, + 2
    cmd(v, peer, 176, 1, md.GUIDED)
    assert cmd(v, peer, 400, 1) == 0
    assert cmd(v, peer, 22, 0, 0, 0, 0, 0, 0, 30) == 0
    v.advance(v.now_s + 25)
    texts = []
    for _ in range(300):
        v.handle(peer(mavlink.MAVLink_set_position_target_local_ned_message(
            0, 1, 1, 1, 0b110111000111, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0)), 1)
        texts += [m.text for _, m in v.advance(v.now_s + 0.2) if m.get_type() == "STATUSTEXT"]
        if v.mode.mode == md.RTL:
            break
    assert v.mode.mode == md.RTL
    assert "Circle and Polygon fences breached" in texts
    assert v.fence_state.breach_type == fz.BREACH_BOUNDARY
    peak = v.body.north_m
    while v.body.vn_mps > 0:
        v.advance(v.now_s + 0.1)
        peak = max(peak, v.body.north_m)
    assert 15.0 < peak - 150.0 < 28.0  # fixture: 21.5 m beyond the 150 m vertex


def test_arming_refused_outside_inclusion_fence():
    v = Vehicle((51.2705, 0.5227, 30.0), fast_boot=True, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 4})
    v.add_link(1)
    peer = Peer()
    # an inclusion triangle well north of home
    rows = [(5001, 3, 512725000, 5227000), (5001, 3, 512735000, 5237000), (5001, 3, 512735000, 5217000)]
    v.handle(peer(mavlink.MAVLink_mission_count_message(1, 1, 3, 1)), 1)
    for seq, (c, p1, lat, lon) in enumerate(rows):
        v.handle(peer(mavlink.MAVLink_mission_item_int_message(1, 1, seq, 0, c, 0, 1, p1, 0, 0, 0,
                                                               lat, lon, 0.0, 1)), 1)
    v.advance(1.5)
    cmd(v, peer, 176, 1, md.GUIDED)
    out = v.handle(peer(mavlink.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)), 1)
    assert [m.result for _, m in out if m.get_type() == "COMMAND_ACK"] == [4]
    assert "Arm: Vehicle breaching Polygon" in [m.text for _, m in out
                                                      if m.get_type() == "STATUSTEXT"]


def test_avoid_enable_stops_short_of_the_fence_without_breaching():
    v, peer = vehicle_with_fence(AVOID_ENABLE=3)
    cmd(v, peer, 176, 1, md.GUIDED)
    cmd(v, peer, 400, 1)
    cmd(v, peer, 22, 0, 0, 0, 0, 0, 0, 30)
    v.advance(v.now_s + 25)
    for _ in range(200):  # 40 s of 10 m/s north, resent at 5 Hz
        v.handle(peer(mavlink.MAVLink_set_position_target_local_ned_message(
            0, 1, 1, 1, 0b110111000111, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0)), 1)
        v.advance(v.now_s + 0.2)
    assert v.mode.mode == md.GUIDED and v.fence_state.breached == 0
    assert 140.0 < v.body.north_m < 150.0
    assert v.body.ground_speed_mps < 0.5
    assert v.avoid_limited


def test_do_fence_enable_with_unconfigured_type_fails():
    v, peer = vehicle_with_fence(FENCE_TYPE=1)
    assert cmd(v, peer, 207, 1, 4) == 4
    assert cmd(v, peer, 207, 0) == 0 and not v.fence_enabled
