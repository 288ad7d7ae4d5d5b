"""A DroneKit script flies the vehicle while ``drone-agent fly`` guards it (issue 10).

``fly`` runs in a thread on the simulator's agent connection (like SITL's 5760) with no
``--takeoff``: it only syncs the fence, passes the gate and guards. Once it says "gate: permitted",
``examples/dronekit_mission.py`` runs as a subprocess on the GCS connection (like SITL's 5762):
GUIDED, arm, take off to 30 m, then a leg north at 10 m/s to a point 2 m inside the operation
area's north edge -- inside the flight controller's fence (ArduCopter refuses destinations outside
it) but 3 m past the agent's boundary (the edge less the 5 m safety margin). The agent must stop
it; the script switches back to GUIDED and flies the same leg again, which must be stopped again;
then RTL, landing, disarm, and ``fly`` ends by itself. A third MAVLink client on the GCS port
records the true track (SIM_STATE) to measure the furthest point against the boundary.

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
from drone_agent.agent.flight import FlightOutcome, FlyOptions, run_flight
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
TARGET_INSIDE_EDGE_M = 2.0  # the leg ends this far inside the legal edge (beyond the agent's line)
simulator = functools.partial(SimulatorProcess, speedup=SPEEDUP, fast_boot=True)


@dataclass
class Mission:
    north_edge_m: float
    max_north_m: float
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
        return json.dumps({"edge_m": self.north_edge_m, "max_north_m": round(self.max_north_m, 2),
                           "rc": self.script_returncode, "stderr": self.script_stderr[-2000:],
                           "script": self.script_events, "agent": self.agent_lines[-30:]},
                          indent=1)


def fly_dronekit_mission(
    simulator: Callable[..., contextlib.AbstractContextManager],
    workdir: Path,
    keys_dir: Path,
    *,
    goto: str,
    speed_mps: float = SPEED_MPS,
    timeout_s: float = 180.0,
) -> Mission:
    """Fly the mission described in the module docstring; ``simulator(home=..., params=...)``
    returns a context manager with ``agent_connection`` and ``gcs_connection``."""
    north_edge = north_edge_for(speed_mps)
    rectangle_zone_file(workdir / "zones.geojson", HOME[0], HOME[1], north_m=north_edge,
                        south_m=north_edge, east_m=north_edge, west_m=north_edge)
    profile = workdir / "op.toml"
    profile.write_text('[operation]\nname = "dronekit mission"\nzone_files = ["zones.geojson"]\n'
                       "[terrain]\ndeclared_flat = true\n")
    params = {"WP_SPD": speed_mps + 5.0}
    lines: list[str] = []
    errors: list[BaseException] = []
    outcome: list[FlightOutcome] = []
    stop_agent = threading.Event()
    events: list[dict[str, Any]] = []
    track = Track(LocalFrame(GeoPoint(*HOME)))

    with simulator(home=HOME, params=params) as sim:
        options = FlyOptions(connect=sim.agent_connection, out_dir=workdir / "flights",
                             device_key=keys_dir / "device-key.pem",
                             recipient=keys_dir / "evidence-recipient.txt", config=profile,
                             ready_timeout_s=timeout_s)

        def agent() -> None:
            try:
                outcome.append(run_flight(options, say=lines.append,
                                          stop_requested=stop_agent.is_set))
            except BaseException as exc:  # noqa: BLE001 -- re-raised in the test's thread
                errors.append(exc)

        thread = threading.Thread(target=agent, name="drone-agent fly", daemon=True)
        thread.start()
        script: subprocess.Popen[str] | None = None
        observer: Link | None = None
        try:
            _wait(lambda: any("gate: permitted" in line for line in lines)
                  or not thread.is_alive(), timeout_s)
            if errors:
                raise errors[0]
            assert thread.is_alive(), f"fly ended before the gate passed: {lines}"
            observer = Link(open_transport(parse_connection(sim.gcs_connection)), Codec(253, 190))
            observer.add(track)
            observer.wait_for_autopilot(30.0)
            observer.run(StreamSetup(observer.peer, {"GLOBAL_POSITION_INT": 10.0, "SIM_STATE": 10.0}),
                         timeout_s=30.0)
            script = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--connect", sim.gcs_connection,
                 "--north-m", str(north_edge - TARGET_INSIDE_EDGE_M),
                 "--speed-mps", str(speed_mps), "--goto", goto, "--timeout-s", str(timeout_s)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            reader = threading.Thread(target=_read_events, args=(script, events), daemon=True)
            reader.start()
            end = time.monotonic() + timeout_s
            while (script.poll() is None or thread.is_alive()) and time.monotonic() < end:
                observer.step()  # keeps the true track while the script flies
                if errors or (script.poll() not in (None, 0)):
                    break
            reader.join(timeout=5.0)
        finally:
            stop_agent.set()
            thread.join(timeout=30.0)
            if observer is not None:
                observer.close()
            if script is not None and script.poll() is None:
                script.kill()
            stderr = script.communicate(timeout=10)[1] if script is not None else ""
    if errors:
        raise errors[0]
    return Mission(north_edge_m=north_edge, max_north_m=track.max_north_m, script_events=events,
                   script_returncode=-1 if script is None else script.returncode,
                   script_stderr=stderr, agent=outcome[0], agent_lines=lines)


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
    """The script's events from each ``goto`` up to its ``leg_end``."""
    out: list[list[dict[str, Any]]] = []
    for event in events:
        if event["kind"] == "goto":
            out.append([])
        if out and (not out[-1] or out[-1][-1]["kind"] != "leg_end"):
            out[-1].append(event)
    return out


def assert_guarded(mission: Mission) -> None:
    """The checks of issue 10, shared with the SITL test."""
    record = mission.summary()
    kinds = [e["kind"] for e in mission.script_events]
    assert mission.script_returncode == 0 and kinds[-1] == "landed", record
    # The vehicle stopped before the edge: the legal one, and even the agent's own line 5 m short
    # of it, although each leg's destination lay 3 m beyond that line.
    assert mission.excursion_m == 0.0, record
    assert mission.effective_excursion_m == 0.0, record
    # Both legs: the script saw the agent's stop (mode change + STATUSTEXT) and stood short of the edge.
    flown = legs(mission.script_events)
    assert len(flown) == 2, record
    for leg in flown:
        assert leg[-1]["kind"] == "leg_end" and leg[-1]["mode"] == "BRAKE", record
        assert leg[-1]["north_m"] < mission.north_edge_m - SAFETY_MARGIN_M, record
        assert {"kind": "mode", "mode": "BRAKE"} in [
            {"kind": e["kind"], "mode": e.get("mode")} for e in leg], record
        texts = [e for e in leg if e["kind"] == "statustext" and e["text"].startswith("Agent BRAKE")]
        assert texts and texts[0]["source"] == [254, 191], record
        assert "Test area" in texts[0]["text"], record  # the reason: the boundary it is near
    # The audit log holds each stop with the state that caused it: closing on the north edge.
    audit = mission.audit()
    stops = [r for r in audit if r["event"] == "guard_stop"]
    assert len(stops) >= 2 and mission.agent.stops >= 2, record
    frame = LocalFrame(GeoPoint(*HOME))
    for stop in stops:
        state, check = stop["state"], stop["check"]
        assert stop["mode"] == "BRAKE" and state["mode"] == "GUIDED" and state["armed"], stop
        assert state["vel_north_mps"] > 0.5, stop  # flying towards the edge
        north_m = frame.to_local(state["lat_deg"], state["lon_deg"])[1]
        assert 0.0 < north_m < mission.north_edge_m - SAFETY_MARGIN_M, stop
        assert check["inside"] and check["time_to_breach_s"] is not None, stop
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


def test_dronekit_script_is_stopped_before_the_edge_twice(tmp_path: Path, keys: Path) -> None:
    mission = fly_dronekit_mission(simulator, tmp_path, keys, goto="target")
    assert_guarded(mission)
