"""Fidelity: replay each real-SITL fixture scenario against the simulator and compare the outcomes.

Every figure is measured the same way on both sides: from the fixture tlog (real ArduCopter SITL,
speed-up 1) and from a replay against ``SimulatorProcess`` over real TCP sockets at a speed-up, using
the vehicle clock (``time_boot_ms``) of the simulator so the speed-up does not distort timings.
Tolerances: ±20 % on times and distances (``REL_TOL``), peak speed within 2 %, message rates within
10 %, COMMAND_ACK results and fence protocol replies exactly. The measured differences are printed
(run with ``-s`` to see the table; the README's fidelity table was produced that way).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymavlink import mavutil

from drone_agent.sim import SimulatorProcess

pytestmark = pytest.mark.slow

HOME = (51.2705, 0.5227, 30.0)
SPEEDUP = 20.0
REL_TOL = 0.20
M_PER_DEG_LAT = 0.011131884502145034 * 1e7
GUIDED, RTL, LAND, BRAKE = 4, 6, 9, 17
VEL_ONLY_MASK = 0b110111000111
# what the fixture's ground side asked for (README): message id -> interval in microseconds
INTERVALS_US = {33: 100_000, 30: 100_000, 74: 250_000, 1: 500_000, 24: 500_000, 193: 500_000,
                136: 1_000_000, 162: 1_000_000, 242: 1_000_000}
RATE_NAMES = {33: "GLOBAL_POSITION_INT", 30: "ATTITUDE", 74: "VFR_HUD", 1: "SYS_STATUS",
              24: "GPS_RAW_INT", 193: "EKF_STATUS_REPORT", 136: "TERRAIN_REPORT",
              162: "FENCE_STATUS", 242: "HOME_POSITION"}
RESULTS: list[tuple[str, float, float, str]] = []


def record(name: str, real: float, sim: float, unit: str) -> None:
    RESULTS.append((name, real, sim, unit))
    diff = (sim - real) / real * 100 if real else float("nan")
    print(f"FIDELITY {name:<42} real {real:9.2f} {unit:<4} sim {sim:9.2f} {unit:<4} {diff:+6.1f} %")


def close(real: float, sim: float, tol: float = REL_TOL) -> bool:
    return abs(sim - real) <= tol * abs(real)


# ----------------------------------------------------------------------------- the real traces
@dataclass
class Trace:
    """A tlog as (time_s, message) pairs, vehicle messages and ground-station messages."""

    items: list = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Trace:
        m = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
        items = []
        while True:
            msg = m.recv_match()
            if msg is None:
                break
            items.append((msg._timestamp, msg))
        t0 = items[0][0]
        return cls([(t - t0, msg) for t, msg in items])

    def vehicle(self, kind: str):
        return [(t, m) for t, m in self.items if m.get_srcSystem() == 1 and m.get_type() == kind]

    def sent(self, kind: str):
        return [(t, m) for t, m in self.items if m.get_srcSystem() == 255 and m.get_type() == kind]

    def ack_time(self, command: int, result: int = 0) -> float:
        return next(t for t, m in self.vehicle("COMMAND_ACK")
                    if m.command == command and m.result == result)

    def mode_cmd_time(self, mode: int) -> float:
        return next(t for t, m in self.sent("COMMAND_LONG")
                    if m.command == 176 and round(m.param2) == mode)

    def first_after(self, kind: str, t0: float, pred) -> tuple[float, object]:
        return next((t, m) for t, m in self.vehicle(kind) if t >= t0 and pred(m))

    def disarm_after(self, t0: float) -> float:
        return self.first_after("HEARTBEAT", t0, lambda m: not m.base_mode & 128)[0]


def north_m(lat_e7: int) -> float:
    return (lat_e7 * 1e-7 - HOME[0]) * M_PER_DEG_LAT


def real_rates(trace: Trace, t0: float, t1: float) -> dict[int, float]:
    counts = Counter(m.get_msgId() for t, m in trace.items if m.get_srcSystem() == 1 and t0 <= t < t1)
    return {mid: counts[mid] / (t1 - t0) for mid in INTERVALS_US}


@pytest.fixture(scope="module")
def traces(sitl_fixtures: Path) -> dict[str, Trace]:
    names = ("boot_arm_takeoff_land", "guided_fly_north_10ms", "fence_upload_breach_rtl_10ms",
             "altitude_fence_climb")
    return {n: Trace.load(sitl_fixtures / f"{n}.tlog") for n in names}


# ----------------------------------------------------------------------------- the replay client
class Gcs:
    """A ground station on the simulator that keeps the vehicle clock from time_boot_ms."""

    def __init__(self, url: str) -> None:
        self.m = mavutil.mavlink_connection(url, source_system=255, source_component=190,
                                            dialect="ardupilotmega")
        assert self.m.wait_heartbeat(timeout=10)
        self.now_ms = 0
        self.log: list[tuple[int, object]] = []
        self.texts: list[str] = []
        self.last_gpi = None
        self.gpi_at_ack = None

    def close(self) -> None:
        self.m.close()

    def pump(self, timeout: float = 0.2):
        msg = self.m.recv_match(blocking=True, timeout=timeout)
        if msg is None:
            return None
        if getattr(msg, "time_boot_ms", None) is not None and msg.get_srcSystem() == 1:
            self.now_ms = max(self.now_ms, msg.time_boot_ms)
        if msg.get_type() == "STATUSTEXT":
            self.texts.append(msg.text)
        if msg.get_type() == "GLOBAL_POSITION_INT":
            self.last_gpi = msg
        self.log.append((self.now_ms, msg))
        return msg

    @property
    def now_s(self) -> float:
        return self.now_ms / 1000.0

    def wait(self, pred, vehicle_s: float = 120.0, on_msg=None):
        end_ms = self.now_ms + vehicle_s * 1000
        wall_end = time.monotonic() + vehicle_s / SPEEDUP * 3 + 10
        while self.now_ms <= end_ms and time.monotonic() < wall_end:
            msg = self.pump()
            if msg is None:
                continue
            if on_msg is not None:
                on_msg(msg)
            if pred(msg):
                return msg
        raise AssertionError("condition not met in the simulator")

    def command(self, cmd: int, *p: float) -> int:
        params = list(p) + [0.0] * (7 - len(p))
        self.m.mav.command_long_send(1, 1, cmd, 0, *params)
        ack = self.wait(lambda m: m.get_type() == "COMMAND_ACK" and m.command == cmd, 20)
        self.gpi_at_ack = self.last_gpi
        return ack.result

    def set_param(self, name: str, value: float) -> None:
        self.m.mav.param_set_send(1, 1, name.encode(), value, 9)
        self.wait(lambda m: m.get_type() == "PARAM_VALUE" and m.param_id == name, 10)

    def intervals(self) -> None:
        for mid, us in INTERVALS_US.items():
            assert self.command(511, mid, us) == 0

    def velocity(self, vn: float, ve: float, vd: float) -> None:
        self.m.mav.set_position_target_local_ned_send(0, 1, 1, 1, VEL_ONLY_MASK, 0, 0, 0,
                                                      vn, ve, vd, 0, 0, 0, 0, 0)

    def arm_and_takeoff(self, alt_m: float) -> float:
        assert self.command(176, 1, GUIDED) == 0
        deadline = self.now_s + 120
        while self.command(400, 1) != 0:
            assert self.now_s < deadline
            t_try = self.now_s
            self.wait(lambda m: self.now_s >= t_try + 2.0, 10)
            assert self.command(176, 1, GUIDED) == 0
        armed_at = self.now_s
        assert self.command(22, 0, 0, 0, 0, 0, 0, alt_m) == 0
        return armed_at

    def fly_velocity_until(self, vel: tuple[float, float, float], stop, vehicle_s: float):
        """Send the velocity target at 5 Hz (vehicle time) until ``stop(msg)``."""
        last = [-1.0]

        def resend(msg):
            if self.now_s - last[0] >= 0.2:
                last[0] = self.now_s
                self.velocity(*vel)

        resend(None)
        return self.wait(stop, vehicle_s, on_msg=resend)


def is_gpi(m) -> bool:
    return m.get_type() == "GLOBAL_POSITION_INT"


def disarmed(m) -> bool:
    return m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and not m.base_mode & 128


def mode_is(mode: int):
    return lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and m.custom_mode == mode


# ----------------------------------------------------------------------------- scenarios
def test_boot_arm_takeoff_land(traces, sitl_fixtures):
    real = traces["boot_arm_takeoff_land"]
    events = json.loads((sitl_fixtures / "boot_arm_takeoff_land.events.json").read_text())
    real_arm_s = next(e["t"] for e in events["events"] if e["event"] == "armed")
    t_arm = real.ack_time(400)
    t_30 = real.first_after("GLOBAL_POSITION_INT", t_arm, lambda m: m.relative_alt >= 29_500)[0]
    t_land = real.mode_cmd_time(LAND)
    real_land_s = real.disarm_after(t_land) - t_land
    expected_acks = {k: v["result"] for k, v in
                     json.loads((sitl_fixtures / "command_acks.json").read_text()).items()}

    with SimulatorProcess(HOME, speedup=SPEEDUP, fast_boot=False, seed=1) as sim:
        g = Gcs(sim.agent_connection)
        try:
            g.intervals()
            acks = {
                "arm_before_ready": g.command(400, 1),
                "takeoff_when_disarmed": g.command(22, 0, 0, 0, 0, 0, 0, 30),
                "set_mode_invalid_99": g.command(176, 1, 99),
                "unknown_command_31999": g.command(31999),
                "request_message_autopilot_version": g.command(512, 148),
                "fence_enable_no_fence": g.command(207, 1),
                "video_start_capture_to_autopilot": g.command(2500),
            }
            assert acks == expected_acks
            assert "No such mode 99" in g.texts
            assert g.command(207, 0) == 0  # the fixture's fence stayed on; ours is turned off
            sim_arm_s = g.arm_and_takeoff(30.0)
            sim_30 = g.wait(lambda m: is_gpi(m) and m.relative_alt >= 29_500, 60)
            sim_arm_to_30 = g.now_s - sim_arm_s
            g.wait(lambda m: g.now_s >= sim_arm_s + 27, 30)  # hover ~10 s at 30 m
            assert g.command(176, 1, LAND) == 0
            t0 = g.now_s
            g.wait(disarmed, 90)
            sim_land_s = g.now_s - t0
            assert sim_30 is not None
            assert any(t.startswith("Arm: ") for t in g.texts)
            assert "ArduPilot Ready" in g.texts and "EKF3 IMU0 is using GPS" in g.texts
        finally:
            g.close()
    # the simulator's clock starts at connect; the fixture's "armed" event is seconds from connect
    record("connect -> first GUIDED arm", real_arm_s, sim_arm_s, "s")
    record("arm -> 30 m (NAV_TAKEOFF)", t_30 - t_arm, sim_arm_to_30, "s")
    record("LAND from 30 m -> disarmed", real_land_s, sim_land_s, "s")
    assert close(real_arm_s, sim_arm_s)
    assert close(t_30 - t_arm, sim_arm_to_30)
    assert close(real_land_s, sim_land_s)


def test_guided_north_brake_rtl_and_message_rates(traces):
    real = traces["guided_fly_north_10ms"]
    t_brake = real.mode_cmd_time(BRAKE)
    t_brake_ack = next(t for t, m in real.vehicle("COMMAND_ACK") if t >= t_brake)
    vel_sends = [t for t, _ in real.sent("SET_POSITION_TARGET_LOCAL_NED")]
    real_peak = max(math.hypot(m.vx, m.vy) / 100 for t, m in real.vehicle("GLOBAL_POSITION_INT")
                    if vel_sends[0] <= t <= t_brake)
    # state when the autopilot acknowledged BRAKE: the last position report before the ACK
    n_at_brake = [north_m(m.lat) for t, m in real.vehicle("GLOBAL_POSITION_INT")
                  if t <= t_brake_ack][-1]
    t_stop, stop_msg = real.first_after("GLOBAL_POSITION_INT", t_brake,
                                        lambda m: math.hypot(m.vx, m.vy) < 20)
    real_brake_m = north_m(stop_msg.lat) - n_at_brake
    real_brake_s = t_stop - t_brake_ack
    t_rtl = real.mode_cmd_time(RTL)
    real_rtl_s = real.disarm_after(t_rtl) - t_rtl
    real_rate = real_rates(real, vel_sends[0], t_brake)

    with SimulatorProcess(HOME, speedup=SPEEDUP, fast_boot=True, seed=2) as sim:
        g = Gcs(sim.agent_connection)
        try:
            g.intervals()
            g.arm_and_takeoff(30.0)
            g.wait(lambda m: is_gpi(m) and m.relative_alt >= 29_900, 60)
            start = g.now_s
            peak = [0.0]
            log_from = len(g.log)

            def track(m):
                if is_gpi(m):
                    peak[0] = max(peak[0], math.hypot(m.vx, m.vy) / 100)
                return g.now_s >= start + 12.0

            g.fly_velocity_until((10.0, 0.0, 0.0), track, 20)
            window = [(t, m) for t, m in g.log[log_from:] if m.get_srcSystem() == 1]
            span = (window[-1][0] - window[0][0]) / 1000.0
            counts = Counter(m.get_msgId() for _, m in window)
            assert g.command(176, 1, BRAKE) == 0
            t0 = g.now_s
            n0 = north_m(g.gpi_at_ack.lat)  # measured like the real trace: last report before ACK
            stop = g.wait(lambda m: is_gpi(m) and math.hypot(m.vx, m.vy) < 20, 20)
            sim_brake_s, sim_brake_m = g.now_s - t0, north_m(stop.lat) - n0
            g.wait(lambda m: g.now_s >= t0 + 5.1, 15)  # RTL 5.1 s after BRAKE, as the fixture
            assert g.command(176, 1, RTL) == 0
            t1 = g.now_s
            g.wait(disarmed, 150)
            sim_rtl_s = g.now_s - t1
        finally:
            g.close()
    record("peak speed, 10 m/s velocity target", real_peak, peak[0], "m/s")
    record("BRAKE from 10 m/s: distance", real_brake_m, sim_brake_m, "m")
    record("BRAKE from 10 m/s: time to < 0.2 m/s", real_brake_s, sim_brake_s, "s")
    record("RTL from ~114 m N at 30 m -> disarmed", real_rtl_s, sim_rtl_s, "s")
    sim_rate = {mid: counts[mid] / span for mid in INTERVALS_US}
    for mid in INTERVALS_US:
        record(f"rate {RATE_NAMES[mid]}", real_rate[mid], sim_rate[mid], "Hz")
    assert abs(peak[0] - real_peak) <= 0.02 * real_peak
    assert close(real_brake_m, sim_brake_m) and close(real_brake_s, sim_brake_s)
    assert close(real_rtl_s, sim_rtl_s)
    for mid in INTERVALS_US:
        assert close(real_rate[mid], sim_rate[mid], 0.10), RATE_NAMES[mid]


def test_fence_upload_readback_breach_and_rtl(traces, sitl_fixtures):
    real = traces["fence_upload_breach_rtl_10ms"]
    events = json.loads((sitl_fixtures / "fence_upload_breach_rtl_10ms.events.json").read_text())
    uploaded = events["fence_uploaded"]
    real_acks = [m.type for _, m in real.vehicle("MISSION_ACK")]
    t_rtl = next(t for t, m in real.vehicle("HEARTBEAT") if m.custom_mode == RTL)
    real_excursion = max(north_m(m.lat) for _, m in real.vehicle("GLOBAL_POSITION_INT")) - 150.0
    real_breach_type = next(m.breach_type for _, m in real.vehicle("FENCE_STATUS") if m.breach_status)
    real_rtl_s = real.disarm_after(t_rtl) - t_rtl
    t_fly = real.sent("SET_POSITION_TARGET_LOCAL_NED")[0][0]
    real_fence_rate = real_rates(real, t_fly, t_rtl - 1.0)[162]

    def upload(g: Gcs, rows) -> tuple[int, list[str]]:
        texts_before = len(g.texts)
        g.m.mav.mission_count_send(1, 1, len(rows), 1)
        while True:
            msg = g.wait(lambda m: m.get_type() in ("MISSION_REQUEST", "MISSION_REQUEST_INT",
                                                    "MISSION_ACK"), 10)
            if msg.get_type() == "MISSION_ACK":
                settle = time.monotonic() + 0.3
                while time.monotonic() < settle:
                    g.pump(0.05)
                return msg.type, g.texts[texts_before:]
            cmd, p1, _, lat, lon = rows[msg.seq]
            g.m.mav.mission_item_int_send(1, 1, msg.seq, 0, cmd, 0, 1, p1, 0, 0, 0,
                                          round(lat * 1e7), round(lon * 1e7), 0, 1)

    with SimulatorProcess(HOME, speedup=SPEEDUP, fast_boot=True, seed=3) as sim:
        g = Gcs(sim.agent_connection)
        try:
            g.intervals()
            ack_ok, texts = upload(g, uploaded)
            assert ack_ok == 0 and "Fence Indexed OK" in texts
            g.m.mav.mission_request_list_send(1, 1, 1)
            count = g.wait(lambda m: m.get_type() == "MISSION_COUNT", 10).count
            back = []
            for seq in range(count):
                g.m.mav.mission_request_int_send(1, 1, seq, 1)
                item = g.wait(lambda m: m.get_type() == "MISSION_ITEM_INT" and m.seq == seq, 10)
                back.append([item.command, item.param1, item.z, item.x / 1e7, item.y / 1e7])
            g.m.mav.mission_ack_send(1, 1, 0, 1)
            flat_back = [x for row in back for x in row]
            flat_real = [float(x) for row in events["fence_readback"] for x in row]
            assert flat_back == pytest.approx(flat_real, abs=1.1e-7)
            bad = [[5001, 2, 0, 51.2705898, 0.5228435], [5001, 2, 0, 51.2706796, 0.5228435]]
            ack_bad, texts = upload(g, bad)
            assert ack_bad == 1
            assert texts[:2] == ["Invalid vertex count (2)", "Fence validation failed"]
            ack_again, _ = upload(g, uploaded)
            assert [ack_ok, ack_bad, ack_again] == real_acks
            for name, value in (("FENCE_TYPE", 7), ("FENCE_ALT_MAX", 100), ("FENCE_ACTION", 1),
                                ("AVOID_ENABLE", 0), ("FENCE_ENABLE", 1)):
                g.set_param(name, value)
            g.arm_and_takeoff(30.0)
            g.wait(lambda m: is_gpi(m) and m.relative_alt >= 29_900, 60)
            peak = [0.0]

            def track(m):
                if is_gpi(m):
                    peak[0] = max(peak[0], north_m(m.lat))
                return m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and \
                    m.custom_mode == RTL

            log_from = len(g.log)
            g.fly_velocity_until((10.0, 0.0, 0.0), track, 60)
            t_mode = g.now_s
            flight = [(t, m) for t, m in g.log[log_from:] if t <= (t_mode - 1.0) * 1000]
            # half-open window [first, last) as real_rates counts: counting both ends would add one
            # message to a ~12 s window (+8 %, and +13 % when the edges fall badly)
            sim_fence_rate = sum(1 for t, m in flight if m.get_type() == "FENCE_STATUS"
                                 and t < flight[-1][0]) / ((flight[-1][0] - flight[0][0]) / 1000.0)
            status = g.wait(lambda m: m.get_type() == "FENCE_STATUS" and m.breach_status, 5)
            g.wait(disarmed, 200, on_msg=track)
            sim_rtl_s = g.now_s - t_mode
            assert "Circle and Polygon fences breached" in g.texts
        finally:
            g.close()
    record("fence 10 m/s, AVOID 0: excursion beyond", real_excursion, peak[0] - 150.0, "m")
    record("fence breach RTL -> disarmed", real_rtl_s, sim_rtl_s, "s")
    record("rate FENCE_STATUS (fence enabled)", real_fence_rate, sim_fence_rate, "Hz")
    assert close(real_fence_rate, sim_fence_rate, 0.10)
    assert status.breach_type == real_breach_type == 3
    assert close(real_excursion, peak[0] - 150.0)
    assert close(real_rtl_s, sim_rtl_s)


def test_altitude_fence_climb(traces):
    real = traces["altitude_fence_climb"]
    real_excursion = max(m.relative_alt for _, m in real.vehicle("GLOBAL_POSITION_INT")) / 1000 - 60
    real_breach_type = next(m.breach_type for _, m in real.vehicle("FENCE_STATUS") if m.breach_status)

    with SimulatorProcess(HOME, speedup=SPEEDUP, fast_boot=True, seed=4) as sim:
        g = Gcs(sim.agent_connection)
        try:
            g.intervals()
            for name, value in (("FENCE_TYPE", 1), ("FENCE_ALT_MAX", 60), ("FENCE_ACTION", 1),
                                ("AVOID_ENABLE", 0), ("FENCE_ENABLE", 1)):
                g.set_param(name, value)
            g.arm_and_takeoff(20.0)
            g.wait(lambda m: is_gpi(m) and m.relative_alt >= 19_900, 60)
            peak = [0.0]

            def track(m):
                if is_gpi(m):
                    peak[0] = max(peak[0], m.relative_alt / 1000)
                return m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and \
                    m.custom_mode == RTL

            g.fly_velocity_until((0.0, 0.0, -3.0), track, 60)
            status = g.wait(lambda m: m.get_type() == "FENCE_STATUS" and m.breach_status, 5)
            g.wait(lambda m: g.now_s > status.breach_time / 1000 + 8, 20, on_msg=track)
            assert "Max Alt fence breached" in g.texts
        finally:
            g.close()
    record("altitude fence 3 m/s: excursion above", real_excursion, peak[0] - 60, "m")
    assert status.breach_type == real_breach_type == 2
    assert close(real_excursion, peak[0] - 60)
