"""A DroneKit script flies the vehicle while ``drone-agent fly`` guards it (issue 10).

``fly`` runs in a thread on the simulator's agent connection (like SITL's 5760) with no
``--takeoff``: it only syncs the fence, passes the gate and guards. Once it says "gate: permitted",
``examples/dronekit_mission.py`` runs as a subprocess on the GCS connection (like SITL's 5762):
GUIDED, arm, take off to 30 m, then a leg north at 10 m/s to a point 2 m inside the operation
area's north edge -- inside the flight controller's fence (ArduCopter refuses destinations outside
it) but 3 m past the agent's boundary (the edge less the 5 m safety margin). The agent must stop
it; the script switches back to GUIDED and flies the same leg again, which must be stopped again.
A third leg aims 15 m beyond the edge: ArduCopter's own fence (which the agent enabled) refuses that
destination, so the vehicle must not move. Then RTL, landing, disarm, and ``fly`` ends by itself.

The furthest point north is measured against the boundary twice: from the vehicle's own position
reports (GLOBAL_POSITION_INT) in the ``telemetry.tlog`` the agent wrote, and -- on the simulator,
whose GCS port takes any number of clients -- from the true track (SIM_STATE) recorded by a third
MAVLink client. Real SITL's second port takes one client only (the script), so there only the
tlog is used.

:func:`fly_dronekit_mission` is shared with ``tests/sitl/test_dronekit_sitl.py``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.flight import FlightOutcome, FlightThread, FlyOptions
from drone_agent.agent.link import Link
from drone_agent.agent.scenario import HOME, SAFETY_MARGIN_M, Track, north_edge_for
from drone_agent.agent.streams import StreamSetup
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.agent.transport import open_transport, parse_connection
from drone_agent.cli import main
from drone_agent.evidence import verify_flight
from drone_agent.geofence import GeoPoint, LocalFrame
from drone_agent.sim import SimulatorProcess

pytestmark = pytest.mark.slow
pytest.importorskip("dronekit", reason="needs the dronekit extra: pip install '.[dronekit]'")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "dronekit_mission.py"
SPEEDUP = 5.0  # modest, as in test_agent_fly.py: the agent's latency counts 5x in vehicle time
SPEED_MPS = 10.0
TARGET_INSIDE_EDGE_M = 2.0  # legs 1-2 end this far inside the legal edge (beyond the agent's line)
BEYOND_EDGE_M = 15.0  # leg 3 ends this far outside it
simulator = functools.partial(SimulatorProcess, speedup=SPEEDUP, fast_boot=True)


@dataclass
class Mission:
    north_edge_m: float
    max_north_m: float  # the furthest of the tlog's and (when observed) the true track's
    max_north_tlog_m: float
    max_north_truth_m: float | None
    script_events: list[dict[str, Any]]
    script_returncode: int
    script_stderr: str
    agent: FlightOutcome
    agent_lines: list[str]

    @property
    def excursion_m(self) -> float:
        return max(0.0, self.max_north_m - self.north_edge_m)

    @property
    def effective_excursion_m(self) -> float:
        return max(0.0, self.max_north_m - (self.north_edge_m - SAFETY_MARGIN_M))

    def audit(self) -> list[dict[str, Any]]:
        assert self.agent.flight_dir is not None
        text = (self.agent.flight_dir / "audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]

    def summary(self) -> str:
        """For assertion messages: the figures and the script's and agent's output."""
        truth = self.max_north_truth_m
        return json.dumps({"edge_m": self.north_edge_m, "max_north_m": round(self.max_north_m, 2),
                           "max_north_tlog_m": round(self.max_north_tlog_m, 2),
                           "max_north_truth_m": None if truth is None else round(truth, 2),
                           "excursion_m": round(self.excursion_m, 2),
                           "effective_excursion_m": round(self.effective_excursion_m, 2),
                           "guard_stops": self.agent.stops,
                           "rc": self.script_returncode, "stderr": self.script_stderr[-2000:],
                           "script": self.script_events, "agent": self.agent_lines[-30:]},
                          indent=1)


def fly_dronekit_mission(
    simulator: Callable[..., contextlib.AbstractContextManager],
    workdir: Path,
    keys_dir: Path,
    *,
    goto: str,
    observe_truth: bool = True,
    speed_mps: float = SPEED_MPS,
    timeout_s: float = 180.0,
) -> Mission:
    """Fly the mission described in the module docstring; ``simulator(home=..., params=...)``
    returns a context manager with ``agent_connection`` and ``gcs_connection``. With
    ``observe_truth`` a third client on the GCS connection records SIM_STATE."""
    north_edge = north_edge_for(speed_mps)
    rectangle_zone_file(workdir / "zones.geojson", HOME[0], HOME[1], north_m=north_edge,
                        south_m=north_edge, east_m=north_edge, west_m=north_edge)
    profile = workdir / "op.toml"
    profile.write_text('[operation]\nname = "dronekit mission"\nzone_files = ["zones.geojson"]\n'
                       "[terrain]\ndeclared_flat = true\n")
    params = {"WP_SPD": speed_mps + 5.0}
    lines: list[str] = []
    events: list[dict[str, Any]] = []
    track = Track(LocalFrame(GeoPoint(*HOME)))

    with simulator(home=HOME, params=params) as sim:
        options = FlyOptions(connect=sim.agent_connection, out_dir=workdir / "flights",
                             device_key=keys_dir / "device-key.pem",
                             recipient=keys_dir / "evidence-recipient.txt", config=profile,
                             ready_timeout_s=timeout_s)

        thread = FlightThread(options, say=lines.append)
        thread.start()
        script: subprocess.Popen[str] | None = None
        observer: Link | None = None
        script_err = (workdir / "script.err").open("w")
        try:
            _wait(lambda: any("gate: permitted" in line for line in lines)
                  or not thread.is_alive(), timeout_s)
            if thread.error is not None:
                raise thread.error
            assert thread.is_alive(), f"fly ended before the gate passed: {lines}"
            if observe_truth:
                observer = Link(open_transport(parse_connection(sim.gcs_connection)),
                                Codec(253, 190))
                observer.add(track)
                observer.wait_for_autopilot(30.0)
                observer.run(StreamSetup(observer.peer, {"GLOBAL_POSITION_INT": 10.0,
                                                         "SIM_STATE": 10.0}), timeout_s=30.0)
            script = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--connect", sim.gcs_connection,
                 "--north-m", *(str(north_edge + d) for d in (-TARGET_INSIDE_EDGE_M,
                                                              -TARGET_INSIDE_EDGE_M, BEYOND_EDGE_M)),
                 "--speed-mps", str(speed_mps), "--goto", goto, "--start-timeout-s", "3",
                 "--timeout-s", str(timeout_s)],
                stdout=subprocess.PIPE, stderr=script_err, text=True)
            reader = threading.Thread(target=_read_events, args=(script, events), daemon=True)
            reader.start()
            end = time.monotonic() + timeout_s
            while (script.poll() is None or thread.is_alive()) and time.monotonic() < end:
                if observer is not None:
                    observer.step()  # keeps the true track while the script flies
                else:
                    time.sleep(0.05)
                if thread.error is not None or (script.poll() not in (None, 0)):
                    break
            reader.join(timeout=5.0)
        finally:
            thread.request_stop()
            thread.join(timeout=30.0)
            if observer is not None:
                observer.close()
            if script is not None:
                if script.poll() is None:
                    script.kill()
                script.wait(timeout=10)
            script_err.close()
    if thread.error is not None:
        raise thread.error
    agent = thread.outcome
    assert agent.flight_dir is not None
    tlog_m = max_north_in_tlog(agent.flight_dir / "telemetry.tlog", LocalFrame(GeoPoint(*HOME)))
    truth_m = track.max_north_m if observe_truth else None
    return Mission(north_edge_m=north_edge, max_north_m=max(tlog_m, truth_m or -math.inf),
                   max_north_tlog_m=tlog_m, max_north_truth_m=truth_m, script_events=events,
                   script_returncode=-1 if script is None else script.returncode,
                   script_stderr=(workdir / "script.err").read_text(), agent=agent,
                   agent_lines=lines)


def max_north_in_tlog(path: Path, frame: LocalFrame) -> float:
    """The furthest north (m) in the autopilot's GLOBAL_POSITION_INT reports of a tlog."""
    from pymavlink import mavutil

    log = mavutil.mavlink_connection(str(path))
    furthest = -math.inf
    try:
        while (msg := log.recv_match(type="GLOBAL_POSITION_INT")) is not None:
            if msg.get_srcSystem() == 1 and (msg.lat or msg.lon):
                furthest = max(furthest, frame.to_local(msg.lat / 1e7, msg.lon / 1e7)[1])
    finally:
        log.close()
    return furthest


def _read_events(script: subprocess.Popen[str], events: list[dict[str, Any]]) -> None:
    for line in script.stdout:  # type: ignore[union-attr]
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))


def _wait(done: Callable[[], bool], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            raise TimeoutError(f"condition not reached in {timeout_s:g} s")
        time.sleep(0.05)


def legs(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The script's events from each ``leg`` up to its ``leg_end``."""
    out: list[list[dict[str, Any]]] = []
    for event in events:
        if event["kind"] == "leg":
            out.append([])
        if out and (not out[-1] or out[-1][-1]["kind"] != "leg_end"):
            out[-1].append(event)
    return out


def assert_guarded(mission: Mission) -> None:
    """The checks of issue 10, shared with the SITL test."""
    record = mission.summary()
    kinds = [e["kind"] for e in mission.script_events]
    assert mission.script_returncode == 0 and kinds[-1] == "landed", record
    # The vehicle stopped before the edge: the furthest position, from the tlog's position reports
    # and (on the simulator) the true track, against the legal boundary.
    assert mission.excursion_m == 0.0, record
    assert mission.max_north_tlog_m > mission.north_edge_m / 2, record  # the tlog saw the legs
    # Both legs: the script saw the agent's stop (mode change + STATUSTEXT) and stood short of the edge.
    flown = legs(mission.script_events)
    assert len(flown) == 3, record
    for leg in flown[:2]:
        assert "goto" in [e["kind"] for e in leg], record  # in GUIDED, the destination sent
        assert leg[-1]["kind"] == "leg_end" and leg[-1]["mode"] == "BRAKE", record
        # Short of the leg's destination (which the vehicle reaches to ~0.1 m when left alone).
        assert leg[-1]["north_m"] < mission.north_edge_m - TARGET_INSIDE_EDGE_M - 1.0, record
        assert {"kind": "mode", "mode": "BRAKE"} in [
            {"kind": e["kind"], "mode": e.get("mode")} for e in leg], record
        texts = [e for e in leg if e["kind"] == "statustext" and e["text"].startswith("Agent BRAKE")]
        assert texts and texts[0]["source"] == [254, 191], record
        assert "Test area" in texts[0]["text"], record  # the reason: the boundary it is near
    # Leg 3, beyond the edge: the vehicle held. The flight controller refused the destination (the
    # vehicle stays in GUIDED), or the agent caught the last of leg 2's drift towards its line and
    # put it back into BRAKE, before or after the goto.
    beyond = flown[2]
    assert not [e for e in beyond if e["kind"] == "moving"], record
    assert beyond[-1]["mode"] in ("GUIDED", "BRAKE"), record
    assert abs(beyond[-1]["north_m"] - flown[1][-1]["north_m"]) < 2.0, record
    # The audit log holds each stop with the state that caused it: closing on the north edge.
    audit = mission.audit()
    stops = [r for r in audit if r["event"] == "guard_stop"]
    assert len(stops) >= 2 and mission.agent.stops >= 2, record
    frame = LocalFrame(GeoPoint(*HOME))
    for stop in stops:
        state, check = stop["state"], stop["check"]
        assert stop["mode"] == "BRAKE" and state["armed"] and stop["reason"], stop
        assert state["vel_north_mps"] > 0.0, stop  # closing on the north edge
        north_m = frame.to_local(state["lat_deg"], state["lon_deg"])[1]
        assert 0.0 < north_m < mission.north_edge_m - SAFETY_MARGIN_M, stop
        assert check["inside"] and check["nearest_zone"] == "Test area", stop
        assert check["time_to_breach_s"] is not None, stop
    # One stop per leg at least came while the script was flying it in GUIDED.
    assert sum(s["state"]["mode"] == "GUIDED" and s["state"]["vel_north_mps"] > 0.5
               for s in stops) >= 2, record
    assert any(r["event"] == "guard_warn" for r in audit)
    events = [r["event"] for r in audit]
    assert "landed_disarmed" in events and events[-1] == "flight_closed"
    report = verify_flight(mission.agent.flight_dir)
    assert report.intact, report.problems


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keys", "init", "--dir", str(folder), "--demo-evidence-key"]) == 0
    return folder


@pytest.mark.parametrize("goto", ["simple", "target"])
def test_dronekit_script_is_stopped_before_the_edge_twice(tmp_path: Path, keys: Path, goto: str) -> None:
    mission = fly_dronekit_mission(simulator, tmp_path, keys, goto=goto)
    assert_guarded(mission)


def test_simulator_answers_simple_goto_like_arducopter() -> None:
    """ArduPilot (GCS_MAVLINK::handle_mission_item, mission_type 0, current 2) hands the item to
    ModeAuto::do_guided: outside GUIDED it answers MISSION_ACK MAV_MISSION_ERROR, in GUIDED it
    sets the destination (ModeGuided::set_destination) and answers MAV_MISSION_ACCEPTED."""
    from pymavlink import mavutil

    with SimulatorProcess(home=HOME, speedup=10.0, fast_boot=True) as sim:
        gcs = mavutil.mavlink_connection(sim.gcs_connection, source_system=255, source_component=190)
        try:
            gcs.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            assert gcs.recv_match(type="HEARTBEAT", blocking=True, timeout=30) is not None
            north_lat = HOME[0] + 50 / 111_319.5

            def guided_waypoint() -> int | None:
                gcs.mav.mission_item_send(1, 1, 0, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                                          mavlink.MAV_CMD_NAV_WAYPOINT, 2, 0, 0, 0, 0, 0,
                                          north_lat, HOME[1], 30.0)
                ack = gcs.recv_match(type="MISSION_ACK", blocking=True, timeout=5)
                return None if ack is None else ack.type

            assert guided_waypoint() == mavlink.MAV_MISSION_ERROR  # STABILIZE: not a guided request
            end = time.monotonic() + 30
            while time.monotonic() < end:
                gcs.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0,
                                          mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4, 0, 0, 0, 0, 0)
                beat = gcs.recv_match(type="HEARTBEAT", blocking=True, timeout=2)
                if beat is not None and beat.get_srcSystem() == 1 and beat.custom_mode == 4:
                    break
            assert guided_waypoint() == mavlink.MAV_MISSION_ACCEPTED
        finally:
            gcs.close()
