"""The boundary scenario shared by the integration tests, the SITL tests and bench_guard.py.

Theory of operation
-------------------
A simulator (the project's ``SimulatorProcess`` or real ``SitlProcess``) runs with its agent and
ground-station connections. ``fly`` runs in a thread on the agent connection with ``--takeoff`` and a
profile (``op.toml``: the zone file, ground declared flat as a fallback height source);
a second client on the GCS connection (system 255, component 190, like a ground station) waits
until the vehicle hovers at the take-off height in GUIDED, then streams velocity targets at 5 Hz
(SET_POSITION_TARGET_LOCAL_NED, velocity-only mask, as in the recorded SITL flight): straight
north at ``speed_mps`` towards the operation area's north edge, or straight up at ``climb_mps``
towards the height ceiling. It keeps commanding -- a client that does not give up -- until the
vehicle has been stopped and stayed stopped for ``settle_s`` (vehicle time), then asks the agent
to stop guarding -- or, with ``land_after``, switches the vehicle to LAND and waits for ``fly`` to
end by itself once the vehicle has landed and disarmed. With ``fight_back`` the client, once
stopped the first time, switches the vehicle back to GUIDED and keeps pushing at the boundary. The truth track comes from SIM_STATE (the simulator's true position, as SITL
sends it), falling back to GLOBAL_POSITION_INT.

Excursion is how far the true track went beyond the legal boundary (0.0 when it never crossed);
``effective_excursion_m`` is the same against the boundary less the safety margin, which is what
the guard aims to stay inside.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.ardupilot import mode_name
from drone_agent.agent.codec import Codec
from drone_agent.agent.command import ModeChange
from drone_agent.agent.flight import FlightOutcome, FlightThread, FlyOptions
from drone_agent.agent.link import Link
from drone_agent.agent.session import Message, Outgoing
from drone_agent.agent.streams import StreamSetup
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.agent.transport import open_transport, parse_connection
from drone_agent.cutproxy import CutProxy
from drone_agent.geofence import GeoPoint, LocalFrame

HOME = (51.2705, 0.5227, 30.0)
TAKEOFF_ALT_M = 30.0
CEILING_M = 120.0
SAFETY_MARGIN_M = 5.0
VELOCITY_ONLY_MASK = 0b0000_1101_1100_0111  # ignore position, acceleration, yaw, yaw rate


# ArduCopter's default quad (ANGLE_MAX 3000 centidegrees = 30° lean) is drag-limited at 10.0 m/s in
# level flight, in real SITL and in the project's simulator: a faster push needs a larger lean limit
# (with 60° real SITL reached 15.4 m/s under a 15 m/s target).
DEFAULT_TOP_SPEED_MPS = 10.0
FAST_ANGLE_MAX_CDEG = 6000.0


def lean_params_for(speed_mps: float) -> dict[str, float]:
    """The parameters a push at ``speed_mps`` needs to really fly at that speed: ANGLE_MAX 6000
    above the default quad's 10 m/s top speed, none otherwise."""
    return {"ANGLE_MAX": FAST_ANGLE_MAX_CDEG} if speed_mps > DEFAULT_TOP_SPEED_MPS else {}


def with_params(simulator: Callable[..., contextlib.AbstractContextManager],
                extra: dict[str, float]) -> Callable[..., contextlib.AbstractContextManager]:
    """A simulator factory that adds ``extra`` to the ``params`` the scenario passes.

    ``functools.partial(simulator, params=extra)`` would not do: the scenario calls
    ``simulator(home=..., params=...)`` and its own ``params`` would replace ``extra``."""
    if not extra:
        return simulator

    def factory(**kwargs: Any) -> contextlib.AbstractContextManager:
        kwargs["params"] = {**(kwargs.get("params") or {}), **extra}
        return simulator(**kwargs)

    return factory


def north_edge_for(speed_mps: float) -> float:
    """Area half-size that leaves room to reach ``speed_mps`` and stop (model: 2.5 m/s²)."""
    return 60.0 + 10.0 * speed_mps


@dataclass
class ScenarioResult:
    kind: str  # "horizontal" or "climb"
    speed_mps: float
    boundary_m: float  # north edge (m from home) or height ceiling (m)
    max_reached_m: float
    excursion_m: float
    effective_excursion_m: float
    stopped_by: str  # mode the vehicle was in when it came to rest
    agent: FlightOutcome
    lines: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        reactions = [r.reaction_s for r in self.agent.reactions if r.action != "warn"]
        return {
            "kind": self.kind,
            "speed_mps": self.speed_mps,
            "boundary_m": self.boundary_m,
            "max_reached_m": round(self.max_reached_m, 2),
            "excursion_m": round(self.excursion_m, 2),
            "effective_excursion_m": round(self.effective_excursion_m, 2),
            "stopped_by": self.stopped_by,
            "guard_stops": self.agent.stops,
            "reaction_ms": [round(r * 1000, 3) for r in reactions],
        }


class Track:
    """GCS-side observer: the vehicle's true position, speed and mode."""

    def __init__(self, frame: LocalFrame) -> None:
        self.frame = frame
        self.north_m = 0.0
        self.up_m = 0.0
        self.speed_mps = 0.0
        self.custom_mode = -1
        self.armed = False
        self.time_s = 0.0
        self.max_north_m = -math.inf
        self.max_up_m = -math.inf
        self.has_truth = False
        self.deadline_s = None

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        kind = msg.get_type()
        if msg.get_srcSystem() != 1:
            return []
        if kind == "HEARTBEAT" and msg.get_srcComponent() == 1:
            self.custom_mode = msg.custom_mode
            self.armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        elif kind == "SIM_STATE" or (kind == "GLOBAL_POSITION_INT" and not self.has_truth):
            if kind == "SIM_STATE":
                self.has_truth = True
                lat = msg.lat_int / 1e7 if msg.lat_int else msg.lat
                lon = msg.lon_int / 1e7 if msg.lon_int else msg.lon
                up = msg.alt - HOME[2]
                self.speed_mps = math.sqrt(msg.vn**2 + msg.ve**2 + msg.vd**2)
            else:
                lat, lon, up = msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0
                self.speed_mps = math.sqrt(msg.vx**2 + msg.vy**2 + msg.vz**2) / 100.0
                self.time_s = msg.time_boot_ms / 1000.0
            _, self.north_m = self.frame.to_local(lat, lon)
            self.up_m = up
            self.max_north_m = max(self.max_north_m, self.north_m)
            self.max_up_m = max(self.max_up_m, self.up_m)
        if kind == "GLOBAL_POSITION_INT":
            self.time_s = msg.time_boot_ms / 1000.0
        return []

    def poll(self, now_s: float) -> Outgoing:
        return []


def run_boundary_scenario(
    simulator: Callable[..., contextlib.AbstractContextManager],
    workdir: Path,
    keys_dir: Path,
    *,
    speed_mps: float = 0.0,
    climb_mps: float = 0.0,
    settle_s: float = 3.0,
    timeout_s: float = 120.0,
    land_after: bool = False,
    fight_back: bool = False,
    link_cut_s: float = 0.0,
) -> ScenarioResult:
    """Fly one scenario (see module docstring); ``simulator(home=..., params=...)`` must return
    a started-on-enter simulator with ``agent_connection`` and ``gcs_connection`` (TCP).

    With ``link_cut_s`` the agent's connection runs through a :class:`~drone_agent.cutproxy.CutProxy`
    that drops it once the vehicle hovers and refuses new connections for ``link_cut_s`` (wall
    time); the push starts only after the agent has reconnected and asked for telemetry again."""
    climb = climb_mps > 0
    north_edge = 500.0 if climb else north_edge_for(speed_mps)
    zones = workdir / "zones.geojson"
    rectangle_zone_file(zones, HOME[0], HOME[1], north_m=north_edge, south_m=north_edge,
                        east_m=north_edge, west_m=north_edge)
    profile = workdir / "op.toml"
    profile.write_text(
        '[operation]\nname = "boundary scenario"\nzone_files = ["zones.geojson"]\n'
        '[terrain]\ndeclared_flat = true\n'
        'note = "simulated world; real SITL without terrain tiles reports none"\n'
    )
    frame = LocalFrame(GeoPoint(*HOME))
    params = {"WP_SPD": max(10.0, speed_mps + 5.0), "WP_SPD_UP": max(2.5, climb_mps + 2.0)}
    lines: list[str] = []

    with simulator(home=HOME, params=params) as sim, contextlib.ExitStack() as stack:
        connect = sim.agent_connection
        proxy = None
        if link_cut_s > 0:
            proxy = stack.enter_context(CutProxy(int(connect.rsplit(":", 1)[1])))
            connect = f"tcp:127.0.0.1:{proxy.port}"
        options = FlyOptions(connect=connect, out_dir=workdir / "flights",
                             device_key=keys_dir / "device-key.pem",
                             recipient=keys_dir / "evidence-recipient.txt", config=profile,
                             takeoff_alt_m=TAKEOFF_ALT_M, ready_timeout_s=timeout_s)

        thread = FlightThread(options, say=lines.append)
        thread.start()
        gcs = Link(open_transport(parse_connection(sim.gcs_connection)), Codec(255, 190))
        track = Track(frame)
        gcs.add(track)
        try:
            gcs.wait_for_autopilot(30.0)
            gcs.run(StreamSetup(gcs.peer, {"GLOBAL_POSITION_INT": 10.0, "SIM_STATE": 10.0}),
                    timeout_s=30.0)
            _wait(gcs, lambda: track.armed and track.custom_mode == 4
                  and track.up_m >= TAKEOFF_ALT_M - 1.0 and track.speed_mps < 0.5,
                  timeout_s, thread)
            if proxy is not None:
                _cut_agent_link(gcs, proxy, link_cut_s, lines, timeout_s, thread)
            rest_since: float | None = None
            next_send = 0.0
            end = time.monotonic() + timeout_s
            while time.monotonic() < end and thread.error is None:
                gcs.step()
                if time.monotonic() >= next_send:
                    next_send = time.monotonic() + 0.2 / getattr(sim, "speedup", 1.0)
                    vn, vu = (0.0, climb_mps) if climb else (speed_mps, 0.0)
                    gcs.send([mavlink.MAVLink_set_position_target_local_ned_message(
                        0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, VELOCITY_ONLY_MASK,
                        0, 0, 0, vn, 0, -vu, 0, 0, 0, 0, 0)])
                stopped = track.custom_mode != 4 and track.speed_mps < 0.2
                if stopped and fight_back:  # switch back to GUIDED and push on: stopped again?
                    gcs.run(ModeChange(gcs.peer, "GUIDED"), timeout_s=30.0)
                    fight_back, stopped = False, False
                if stopped and rest_since is None:
                    rest_since = track.time_s
                elif not stopped:
                    rest_since = None
                if rest_since is not None and track.time_s - rest_since >= settle_s:
                    break
            stopped_by = mode_name(track.custom_mode)
            if land_after:  # the GCS lands it; fly must end by itself once landed and disarmed
                gcs.run(ModeChange(gcs.peer, "LAND"), timeout_s=30.0)
                _wait(gcs, lambda: not thread.is_alive(), timeout_s, thread)
        finally:
            thread.request_stop()
            thread.join(timeout=30.0)
            gcs.close()
    if thread.error is not None:
        raise thread.error
    if climb:
        reached, boundary = track.max_up_m, CEILING_M
    else:
        reached, boundary = track.max_north_m, north_edge
    return ScenarioResult(
        kind="climb" if climb else "horizontal",
        speed_mps=climb_mps if climb else speed_mps,
        boundary_m=boundary,
        max_reached_m=reached,
        excursion_m=max(0.0, reached - boundary),
        effective_excursion_m=max(0.0, reached - (boundary - SAFETY_MARGIN_M)),
        stopped_by=stopped_by,
        agent=thread.outcome,
        lines=lines,
    )


def check_link_cut_recovery(result: ScenarioResult) -> None:
    """For a ``link_cut_s`` scenario: the flight folder is intact and its audit log shows the link
    lost (with the transport's cause), reconnected and restored, telemetry asked for again, and the
    guard's stop after that.

    Raises:
        AssertionError: with what is missing.
    """
    from drone_agent.evidence import verify_flight

    flight = result.agent.flight_dir
    assert flight is not None and verify_flight(flight).intact, f"flight folder {flight} does not verify"
    records = [json.loads(line) for line in (flight / "audit.jsonl").read_text().splitlines()]
    events = [r["event"] for r in records]
    for event in ("link_lost", "link_reconnected", "link_restored", "guard_stop"):
        assert event in events, f"no {event} in the audit log: {events}"
    lost = next(r for r in records if r["event"] == "link_lost")
    assert lost.get("cause"), f"link_lost without the transport's cause: {lost}"
    assert any(r["event"] == "streams" and r.get("after") in ("link_reconnected", "link_restored")
               for r in records), \
        "telemetry was not asked for again after the link came back"
    assert events.index("guard_stop") > events.index("link_restored"), "the stop came before the cut"


def _cut_agent_link(gcs: Link, proxy: CutProxy, down_s: float, lines: list[str], timeout_s: float,
                    agent: FlightThread) -> None:
    """Drop the agent's connection, keep it down for ``down_s``, then wait until the agent has
    reconnected and re-requested its telemetry (its ``say`` lines)."""
    proxy.cut_after(0)
    _wait(gcs, lambda: proxy.cuts > 0, timeout_s, agent)
    down_until = time.monotonic() + down_s
    _wait(gcs, lambda: time.monotonic() >= down_until, timeout_s, agent)
    proxy.heal()
    _wait(gcs, lambda: any(line.startswith("telemetry re-requested") for line in lines), timeout_s, agent)


def _wait(link: Link, done: Callable[[], bool], timeout_s: float, agent: FlightThread) -> None:
    end = time.monotonic() + timeout_s
    while not done():
        if agent.error is not None:
            raise agent.error
        if time.monotonic() > end:
            raise TimeoutError(f"scenario: condition not reached in {timeout_s:g} s")
        link.step()


def prearm_refusal_outside_area(
    simulator: Callable[..., contextlib.AbstractContextManager], timeout_s: float = 120.0
) -> str:
    """Upload (with :func:`~drone_agent.agent.fence_setup.sync_fence`) a 100 m square area
    400 m north of the vehicle with the parameters ``fly`` sets, then try to arm until the
    flight controller refuses *because the vehicle breaches the fence* (ArduPilot's pre-arm
    "Vehicle breaching ..."; earlier refusals such as "Fence requires position" are retried);
    return that refusal.

    Raises:
        AssertionError: the vehicle armed outside the area, or never gave a fence reason.
    """
    from drone_agent.agent.command import CommandLong
    from drone_agent.agent.errors import CommandRejected
    from drone_agent.agent.fence_setup import sync_fence
    from drone_agent.geofence import FenceItem

    centre = HOME[0] + 400 / 111_320
    half_lat, half_lon = 50 / 111_320, 50 / (111_320 * math.cos(math.radians(HOME[0])))
    square = FenceItem("inclusion_polygon", (
        (centre - half_lat, HOME[1] - half_lon), (centre - half_lat, HOME[1] + half_lon),
        (centre + half_lat, HOME[1] + half_lon), (centre + half_lat, HOME[1] - half_lon)))
    params = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 7.0, "FENCE_ACTION": 4.0, "FENCE_ALT_MAX": 115.0}
    with simulator(home=HOME) as sim:
        link = Link(open_transport(parse_connection(sim.agent_connection)), Codec(254, 191))
        try:
            link.wait_for_autopilot(60.0)
            report = sync_fence(link.run, link.peer, [square], params, lambda *a, **k: None)
            assert report.ok, report.problems
            end = time.monotonic() + timeout_s
            last = ""
            while time.monotonic() < end:
                try:
                    link.run(CommandLong(link.peer, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, (1,)))
                except CommandRejected as exc:
                    last = exc.message
                    if "breach" in last.lower():  # not "Fence requires position" (too early)
                        return last
                    pause = time.monotonic() + 1.0
                    while time.monotonic() < pause:
                        link.step()
                    continue
                raise AssertionError("the flight controller armed outside the uploaded area")
            raise AssertionError(f"no fence refusal within {timeout_s:g} s (last: {last})")
        finally:
            link.close()
