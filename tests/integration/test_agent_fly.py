"""``fly`` against the project's simulator over real TCP, with a second client commanding the
vehicle: stopped before the boundary at 5, 10 and 15 m/s and in a 3 m/s climb; a fence the
vehicle rejects or returns altered makes ``fly`` refuse with exit code 3 and one line."""

from __future__ import annotations

import functools
import json
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.scenario import (
    HOME,
    check_link_cut_recovery,
    lean_params_for,
    prearm_refusal_outside_area,
    run_boundary_scenario,
    with_params,
)
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.cli import main
from drone_agent.evidence import verify_flight
from drone_agent.sim import SimulatorProcess

pytestmark = pytest.mark.slow
SPEEDUP = 5.0  # modest: the agent's wall-clock latency is multiplied by this in vehicle time
simulator = functools.partial(SimulatorProcess, speedup=SPEEDUP, fast_boot=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keys", "init", "--dir", str(folder), "--demo-evidence-key"]) == 0
    return folder


@pytest.mark.parametrize("speed_mps", [5.0, 10.0, 15.0])
def test_stopped_before_the_inclusion_boundary(tmp_path: Path, keys: Path, speed_mps: float) -> None:
    land = speed_mps == 5.0  # one flight goes on to land: fly must end by itself when disarmed
    fight = speed_mps == 15.0  # one client switches back to GUIDED after the stop and pushes on
    # as against real SITL (tests/sitl): the default quad tops out at 10 m/s, 15 m/s needs
    # ANGLE_MAX 6000 (added to the scenario's own params, not replacing them)
    factory = with_params(simulator, lean_params_for(speed_mps))
    result = run_boundary_scenario(factory, tmp_path, keys, speed_mps=speed_mps, land_after=land,
                                   fight_back=fight)
    assert result.excursion_m == 0.0, result.as_record()
    assert result.effective_excursion_m == 0.0, result.as_record()  # even the safety margin held
    assert result.agent.stops >= (2 if fight else 1) and result.stopped_by == "BRAKE"
    assert any(r.action == "stop" for r in result.agent.reactions)
    report = verify_flight(result.agent.flight_dir)
    assert report.intact, report.problems
    lines = (result.agent.flight_dir / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    for event in ("fence_upload", "fence_readback", "preflight_gate", "arm", "guard_stop"):
        assert event in events
    assert ("landed_disarmed" if land else "guard_end") in events
    assert events.count("link_up") == 1 and events[-1] == "flight_closed"
    assert (result.agent.flight_dir / "telemetry.tlog").stat().st_size > 10_000


def test_climb_stopped_below_the_ceiling(tmp_path: Path, keys: Path) -> None:
    result = run_boundary_scenario(simulator, tmp_path, keys, climb_mps=3.0)
    assert result.excursion_m == 0.0, result.as_record()
    assert result.agent.stops >= 1 and result.stopped_by == "BRAKE"


def test_guard_works_again_after_the_tcp_link_was_cut(tmp_path: Path, keys: Path) -> None:
    """The agent's TCP connection is dropped while hovering and refused for 4 s: ``fly`` does not
    give up; it reconnects, asks for telemetry again (the simulator, like ArduPilot, keeps rates per
    channel: a new connection gets the defaults, GLOBAL_POSITION_INT at 4 Hz instead of the 10 Hz the
    guard asks for) and then still stops a 10 m/s push before the boundary."""
    result = run_boundary_scenario(simulator, tmp_path, keys, speed_mps=10.0, link_cut_s=4.0)
    assert result.excursion_m == 0.0 and result.effective_excursion_m == 0.0, result.as_record()
    assert result.agent.stops >= 1 and result.stopped_by == "BRAKE"
    check_link_cut_recovery(result)


class TamperingProxy:
    """A MAVLink man-in-the-middle between the agent and the simulator that rejects the fence
    upload or alters the first fence item on download."""

    def __init__(self, upstream: str, tamper: Callable[[mavlink.MAVLink_message], object]) -> None:
        host, port = upstream.split(":")[1:]
        self.upstream = (host, int(port))
        self.tamper = tamper
        self.server = socket.create_server(("127.0.0.1", 0))
        self.connection = f"tcp:127.0.0.1:{self.server.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        agent, _ = self.server.accept()
        vehicle = socket.create_connection(self.upstream)
        from_vehicle, to_agent = Codec(254, 191), Codec(1, 1)
        selector = selectors.DefaultSelector()
        selector.register(agent, selectors.EVENT_READ, vehicle)
        selector.register(vehicle, selectors.EVENT_READ, agent)
        while not self._stop.is_set():
            for key, _ in selector.select(0.05):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:  # the agent reset the connection as it ended
                    return
                if not data:
                    return
                if key.fileobj is agent:
                    vehicle.sendall(data)
                    continue
                for msg in from_vehicle.feed(data, 0.0):
                    msg = self.tamper(msg) or msg
                    agent.sendall(to_agent.encode(msg, 0.0) if msg.get_srcComponent() == 1
                                  else Codec(msg.get_srcSystem(), msg.get_srcComponent())
                                  .encode(msg, 0.0))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


def reject_upload(msg: mavlink.MAVLink_message) -> None:
    if msg.get_type() == "MISSION_ACK" and msg.mission_type == 1:
        msg.type = mavlink.MAV_MISSION_NO_SPACE


def alter_download(msg: mavlink.MAVLink_message) -> None:
    if msg.get_type() == "MISSION_ITEM_INT" and msg.mission_type == 1 and msg.seq == 0:
        msg.x += 50


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    path = tmp_path / "zones.geojson"
    rectangle_zone_file(path, HOME[0], HOME[1], north_m=150, south_m=150, east_m=150, west_m=150)
    return path


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [(reject_upload, "fence upload rejected by the vehicle (MAV_MISSION_NO_SPACE)"),
     (alter_download, "fence read back different: item 0: sent inclusion_polygon")],
)
def test_fly_refuses_when_the_fence_is_not_in_the_controller(
    tmp_path: Path, keys: Path, zones: Path, tamper: Callable, reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with simulator(home=HOME) as sim:
        proxy = TamperingProxy(sim.agent_connection, tamper)
        try:
            code = main(["fly", "--zones", str(zones), "--connect", proxy.connection,
                         "--out", str(tmp_path / "flights"), "--keys", str(keys),
                         "--takeoff", "30"])
        finally:
            proxy.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1
    assert err[0].startswith("not permitted: ") and reason in err[0], err
    flight = next((tmp_path / "flights").iterdir())
    events = {r["event"]: r for r in map(json.loads, (flight / "audit.jsonl").read_text().splitlines())}
    assert events["preflight_gate"]["permitted"] is False
    assert reason in events["preflight_gate"]["reasons"][0]
    assert "arm" not in events  # never armed


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator(home=HOME) as running:
        yield running


def test_fly_refuses_outside_the_operation_area(tmp_path: Path, keys: Path, sim: SimulatorProcess,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Home 400 m south of an area: the gate refuses and never arms."""
    path = tmp_path / "far.geojson"
    rectangle_zone_file(path, HOME[0] + 400 / 111_320, HOME[1], north_m=100, south_m=100,
                        east_m=100, west_m=100)
    code = main(["fly", "--zones", str(path), "--connect", sim.agent_connection,
                 "--out", str(tmp_path / "flights"), "--keys", str(keys), "--takeoff", "30"])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "home is outside the operation area" in err and "\n" not in err


def test_flight_controller_refuses_to_arm_outside_the_uploaded_area() -> None:
    """The simulator's ArduCopter-like fence pre-arm check refuses with the uploaded config."""
    refusal = prearm_refusal_outside_area(simulator, timeout_s=60.0)
    assert refusal.startswith("MAV_CMD_COMPONENT_ARM_DISARM failed") and "breaching" in refusal


def test_ctrl_c_leaves_the_vehicle_under_its_own_fence(tmp_path: Path, keys: Path, zones: Path,
                                                       sim: SimulatorProcess) -> None:
    """Run the real CLI, interrupt it once it guards: exit 130, the message says the flight
    controller's fence stays in force, and the flight folder is closed and intact."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "drone_agent", "fly", "--zones", str(zones), "--connect",
         sim.agent_connection, "--out", str(tmp_path / "flights"), "--keys", str(keys)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "gate: permitted" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stays under the flight controller's own fence" in out
    assert "FENCE_ENABLE=1" in out
    flight = next((tmp_path / "flights").iterdir())
    assert verify_flight(flight).intact
    events = [json.loads(line)["event"] for line in (flight / "audit.jsonl").read_text().splitlines()]
    assert "agent_interrupted" in events and events[-1] == "flight_closed"
