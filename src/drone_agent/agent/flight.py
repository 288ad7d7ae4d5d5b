"""``drone-agent fly``: connect, sync the fence, pass the gate, guard until landed, write the folder.

Theory of operation
-------------------
One thread, one :class:`~drone_agent.agent.link.Link` loop, in phases:

1. **Profile** -- ``--config OP.toml`` (or ``--zones`` files with default limits), ``[link]`` and
   ``[guard]`` tables; the flight folder is created (:class:`~drone_agent.evidence.FlightVault`)
   so that everything after this point, including a refusal, is in the signed audit log.
2. **Connect** -- first autopilot HEARTBEAT (ids from the packet), telemetry streams asked
   for and their rate checked (GLOBAL_POSITION_INT must arrive at ≥ 70 % of 10 Hz; the guard
   depends on it).
3. **Ready** -- wait (``--ready-timeout``) for a position, home, 3-D GPS fix and healthy EKF.
4. **Fence** -- compile the fence around the vehicle's home; read the version-dependent
   parameters the gate needs (RTL altitude: ``RTL_ALT_M`` or ``RTL_ALT``); upload, read back,
   compare; set and re-read FENCE_*/AVOID_* parameters (:func:`~.fence_setup.sync_fence`).
5. **Gate** -- :func:`~.gate.preflight_gate`; refusal is NotPermitted (exit 3) with every reason.
   With ``--takeoff ALT`` the agent then sets GUIDED, arms and takes off; otherwise the pilot
   (or another client) does.
6. **Guard** -- :class:`~.guard_runner.GuardRunner` on every position update, status lines every
   ``--status-interval`` s, link loss/recovery logged, until the vehicle has been armed and is
   disarmed again (landed), or ``--duration`` elapses. The agent need not be the one flying:
   another client may command the vehicle on another connection at the same time.
7. **Close** -- the telemetry log (both directions, ``telemetry.tlog``) is attached and the vault
   closed (hashes, signatures). Ctrl-C closes the same way and says that the vehicle stays under
   the flight controller's own fence.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.ardupilot import RTL_ALTITUDE, WAYPOINT_SPEED
from drone_agent.agent.capture_runtime import CaptureRuntime, FrameSourceFactory, capture_streams_hz
from drone_agent.agent.console import Console, LineConsole
from drone_agent.agent.codec import Codec, load_signing_key
from drone_agent.agent.command import CommandLong, ModeChange
from drone_agent.agent.config import LinkConfig, link_config_from_table
from drone_agent.agent.errors import CommandRejected
from drone_agent.agent.fence_setup import SyncReport, sync_fence
from drone_agent.agent.gate import GateResult, preflight_gate
from drone_agent.agent.guard import GuardConfig, check_record, guard_config_from_table, kinematic_state
from drone_agent.agent.guard_runner import GuardRunner
from drone_agent.agent.heartbeat import LinkMonitor
from drone_agent.agent.link import HostedComponent, Link
from drone_agent.agent.params import ParamRead, resolve_alias
from drone_agent.agent.status import flight_status
from drone_agent.agent.streams import AGENT_STREAMS_HZ, RateCheck, StreamSetup
from drone_agent.agent.transport import open_transport, parse_connection
from drone_agent.capture.config import parse_camera_section, parse_trigger_section
from drone_agent.capture.sources import BootTimeEstimator, OpenCvSource
from drone_agent.errors import DroneAgentError, InputError, NotPermitted, VehicleError
from drone_agent.geofence import (
    ElevationGrid,
    GeoPoint,
    KinematicState,
    compile_fence,
    load_operation,
    operation_from_zone_files,
    ground_profile,
    select_terrain_source,
)
from drone_agent.geofence.terrain import SOURCE_ELEVATION_FILE

TLOG_FILE = "telemetry.tlog"
ZONES_FILE = "zones.geojson"
TERRAIN_WAIT_S = 3.0  # after the vehicle is ready, how long to wait for a first TERRAIN_REPORT
DEG_PER_M = 1.0 / 111_320.0
REQUIRED_STREAMS_HZ = {"GLOBAL_POSITION_INT": AGENT_STREAMS_HZ["GLOBAL_POSITION_INT"]}
STREAM_REQUEST_TIMEOUT_S = 15.0  # re-requesting telemetry after a link loss


@dataclass(frozen=True, slots=True)
class FlyOptions:
    connect: str
    out_dir: Path
    device_key: Path
    recipient: Path
    config: Path | None = None
    zones: tuple[Path, ...] = ()
    passphrase: str | None = None
    system_id: int | None = None
    component_id: int | None = None
    signing_key: Path | None = None
    takeoff_alt_m: float | None = None
    duration_s: float | None = None
    ready_timeout_s: float = 120.0
    status_interval_s: float = 1.0
    camera_source: str | None = None  # overrides [camera] source; attaches a camera


@dataclass
class FlightOutcome:
    """What happened (for the CLI, tests and the bench)."""

    flight_dir: Path | None = None
    gate: GateResult | None = None
    sync: SyncReport | None = None
    reactions: list = field(default_factory=list)
    stops: int = 0
    capture: CaptureRuntime | None = None
    interrupted: bool = False
    exit_code: int = 0


def _load_profile(options: FlyOptions):  # noqa: ANN202 -- (Operation, base_dir)
    if (options.config is None) == (not options.zones):
        raise InputError("give either --config OP.toml or --zones FILE.geojson",
                         "fly needs an operation profile or zone files")
    if options.config is not None:
        return load_operation(options.config), options.config.resolve().parent
    return operation_from_zone_files(list(options.zones), home=None, name="ad-hoc fly"), Path.cwd()


def run_flight(options: FlyOptions, say: Callable[[str], None] = print,
               clock: Callable[[], float] = time.monotonic,
               stop_requested: Callable[[], bool] = lambda: False,
               console: Console | None = None,
               open_frames: FrameSourceFactory | None = None) -> FlightOutcome:
    """Run ``fly`` end to end (see module docstring). ``stop_requested`` is polled every loop
    turn while guarding; when it returns True the agent stops guarding and closes the folder
    (the vehicle stays under its own fence), like Ctrl-C but with exit code 0.

    ``console`` shows events and status (default: ``say`` lines). A camera is attached when the
    profile has a ``[camera]`` section or ``options.camera_source`` is set; ``open_frames``
    opens its frames (default: OpenCV on ``[camera] source``; the demo passes the simulator's).

    Raises:
        InputError: bad profile, options, keys. NotPermitted: the gate refused (after the
        refusal is in the audit log). VehicleError: link or vehicle failure.
    """
    from drone_agent.evidence import DeviceKey, EvidenceRecipient, FlightVault

    console = console or LineConsole(say)
    operation, base_dir = _load_profile(options)
    sections = dict(operation.sections)
    if options.camera_source is not None:
        sections["camera"] = {**sections.get("camera", {}), "source": options.camera_source}
    guard_config = guard_config_from_table(sections.get("guard"), operation.source)
    link_config = link_config_from_table(sections.get("link"), base_dir, operation.source)
    link_config = LinkConfig(
        system_id=link_config.system_id if options.system_id is None else options.system_id,
        component_id=(link_config.component_id if options.component_id is None
                      else options.component_id),
        signing_key_file=options.signing_key or link_config.signing_key_file,
        link_timeout_s=link_config.link_timeout_s,
        connect_timeout_s=link_config.connect_timeout_s,
    )
    key = load_signing_key(link_config.signing_key_file) if link_config.signing_key_file else None
    codec = Codec(link_config.system_id, link_config.component_id, key)
    elevation_file = operation.terrain.elevation_file
    grid = ElevationGrid.load(elevation_file) if elevation_file is not None else None
    endpoint = parse_connection(options.connect)
    device_key = DeviceKey.load(options.device_key, options.passphrase)
    recipient = EvidenceRecipient.load(options.recipient)

    vault = FlightVault.create(options.out_dir, device_key=device_key, recipient=recipient,
                               operation={"name": operation.name,
                                          "incident_ref": operation.incident_ref,
                                          "config_sha256": operation.config_sha256})
    audit = vault.audit.append
    outcome = FlightOutcome(flight_dir=vault.flight_dir)
    say = console.say
    say(f"flight folder {vault.flight_dir}")
    _write_zones(vault, operation)
    audit("agent_start", connect=str(endpoint), system_id=link_config.system_id,
          component_id=link_config.component_id, signing=key is not None)
    audit("config", operation=operation.as_record(), guard=_dataclass_record(guard_config),
          link={"system_id": link_config.system_id, "component_id": link_config.component_id,
                "signing": key is not None})
    tlog = open(vault.flight_dir / TLOG_FILE, "wb")  # noqa: SIM115 -- closed in finally
    link: Link | None = None
    try:
        transport = open_transport(endpoint)
        link = Link(transport, codec, monitor=LinkMonitor(timeout_s=link_config.link_timeout_s),
                    clock=clock, tlog=tlog)
        _fly(link, operation, grid, guard_config, link_config, options, audit, console, outcome, clock,
             stop_requested, sections, vault, open_frames or _opencv_frames)
    except KeyboardInterrupt:
        outcome.interrupted, outcome.exit_code = True, 130
        message = ("interrupted: drone-agent stopped guarding; the vehicle stays under the flight "
                   "controller's own fence"
                   + (f" ({outcome.sync.inclusion_items} inclusion item(s), FENCE_ENABLE="
                      f"{outcome.sync.params_read_back.get('FENCE_ENABLE', 0):g})"
                      if outcome.sync is not None and outcome.sync.ok else
                      " as it was before (the agent's fence was not synced)"))
        audit("agent_interrupted", message=message)
        say(message)
    except DroneAgentError as exc:
        audit("agent_error", exit_code=exc.exit_code, message=exc.one_line(),
              state=None if link is None else link.state.as_dict())
        raise
    finally:
        if outcome.capture is not None:
            outcome.capture.stop()
        if link is not None:
            link.close()
        tlog.close()
        vault.attach_file(TLOG_FILE)
        vault.close()
    return outcome


class FlightThread(threading.Thread):
    """:func:`run_flight` on a thread, for callers that fly the vehicle themselves meanwhile
    (the demo, the scenarios, tests): ``outcome`` or ``error`` once it ends; :meth:`request_stop`
    makes it stop guarding and close the folder, like Ctrl-C with exit code 0."""

    def __init__(self, options: FlyOptions, **kwargs: Any) -> None:
        super().__init__(name="drone-agent fly", daemon=True)
        self.options, self.kwargs = options, kwargs
        self.outcome: FlightOutcome | None = None
        self.error: BaseException | None = None
        self._stop_requested = threading.Event()

    def run(self) -> None:
        try:
            self.outcome = run_flight(self.options, stop_requested=self._stop_requested.is_set,
                                      **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread
            self.error = exc

    def request_stop(self) -> None:
        self._stop_requested.set()


def _opencv_frames(camera: Any, boot_time: BootTimeEstimator) -> Any:
    return OpenCvSource(camera.source, boot_time=boot_time)


def _write_zones(vault: Any, operation: Any) -> None:
    """The zones this flight is flown against, as GeoJSON, into the flight folder (for the report)."""
    features = []
    for zone in operation.zones:
        props = {"kind": zone.kind, "name": zone.name, "source": zone.label}
        for key in ("radius_m", "floor_m", "ceiling_m"):
            if getattr(zone, key) is not None:
                props[key] = getattr(zone, key)
        features.append({"type": "Feature", "properties": props,
                         "geometry": shapely.geometry.mapping(zone.geometry)})
    path = vault.flight_dir / ZONES_FILE
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    vault.attach_file(ZONES_FILE)


def _area_lonlat(operation) -> Any:  # noqa: ANN001 -- the operation area in lon/lat degrees
    parts = []
    for zone in operation.zones_of("operation_area"):
        radius_m = getattr(zone, "radius_m", None)
        parts.append(zone.geometry.buffer(radius_m * DEG_PER_M) if radius_m else zone.geometry)
    return shapely.union_all(parts)


def _dataclass_record(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _run_until(link: Link, done: Callable[[], bool], timeout_s: float) -> bool:
    end = link.clock() + timeout_s
    while not done():
        if link.clock() > end:
            return False
        link.step()
    return True


def _fly(link: Link, operation, grid: ElevationGrid | None, guard_config: GuardConfig, link_config: LinkConfig,  # noqa: ANN001, C901
         options: FlyOptions, audit, console: Console, outcome: FlightOutcome, clock,  # noqa: ANN001
         stop_requested: Callable[[], bool], sections: dict[str, Any], vault: Any,
         open_frames: FrameSourceFactory) -> None:
    say = console.say
    with_camera = "camera" in sections
    if with_camera:  # validate [camera]/[trigger] before touching the vehicle
        camera_cfg = parse_camera_section(sections["camera"], f"{operation.source} [camera]")
        trigger_cfg = parse_trigger_section(sections.get("trigger", {}), f"{operation.source} [trigger]")
    autopilot = link.wait_for_autopilot(link_config.connect_timeout_s)
    link.monitor.drain_events()  # the first contact is audited just below as link_up
    peer = link.peer
    assert peer is not None
    say(f"autopilot system {autopilot.system_id} component {autopilot.component_id} "
        f"(MAV_AUTOPILOT {autopilot.autopilot}, MAV_TYPE {autopilot.vehicle_type})")
    audit("link_up", system_id=autopilot.system_id, component_id=autopilot.component_id,
          autopilot=autopilot.autopilot, vehicle_type=autopilot.vehicle_type)
    asked_hz = dict(AGENT_STREAMS_HZ)
    if with_camera:
        for name, hz in capture_streams_hz(camera_cfg, trigger_cfg).items():
            asked_hz[name] = max(hz, asked_hz.get(name, 0.0))
    streams = link.run(StreamSetup(peer, asked_hz))
    rates = link.run(RateCheck(peer, REQUIRED_STREAMS_HZ, window_s=2.0))
    audit("streams", methods=dict(streams.methods), measured_hz=rates)

    def ready() -> bool:
        s = link.state
        return s.has_position and s.home is not None and s.gps_ok and s.ekf_ok

    if not _run_until(link, ready, options.ready_timeout_s):
        say(f"vehicle not ready after {options.ready_timeout_s:g} s; the gate will say why")
    _run_until(link, lambda: link.state.terrain_reports > 0, TERRAIN_WAIT_S)
    state = link.state
    home = (GeoPoint(state.home.lat_deg, state.home.lon_deg, state.home.alt_amsl_m)
            if state.home is not None else operation.home)
    if home is None:
        raise NotPermitted("no home position from the vehicle and none in the profile",
                           "wait for a GPS fix (home is set then) or give [operation] home")
    fence = compile_fence(operation, home=home, now_utc=datetime.now(UTC), strict=False)
    terrain = select_terrain_source(operation.terrain,
                                    flight_controller_terrain=state.alt_agl_m is not None,
                                    elevation_file_loaded=grid is not None)
    audit("terrain", source=terrain.source, acceptable=terrain.acceptable, reason=terrain.reason)
    say(f"height above ground from: {terrain.reason}")
    ground_amsl_m = (grid.elevation_amsl_m
                     if grid is not None and terrain.source == SOURCE_ELEVATION_FILE else None)
    plan = fence.controller_plan(ground_profile(grid, operation.terrain, home, _area_lonlat(operation)))
    for note in (*fence.notes, *plan.notes):
        say(f"note: {note}")
    vehicle_params = link.run(ParamRead(peer, tuple(
        name for alias in (WAYPOINT_SPEED, RTL_ALTITUDE) for name, _ in alias.names)))
    rtl = resolve_alias(RTL_ALTITUDE, vehicle_params)
    speed = resolve_alias(WAYPOINT_SPEED, vehicle_params)
    audit("vehicle_params", rtl_altitude=rtl, waypoint_speed=speed)
    sync = sync_fence(link.run, peer, plan.items, plan.params, audit)
    outcome.sync = sync
    kin = kinematic_state(link.state, fence.frame, KinematicState, ground_amsl_m)
    position_check = fence.check(kin) if kin is not None else None
    gate = preflight_gate(
        fence_refusals=tuple(fence.refusals),
        sync_problems=sync.problems,
        controller_params=dict(sync.params_read_back),
        inclusion_items=sync.inclusion_items,
        vehicle=link.state,
        position_check=position_check,
        rtl_alt_m=None if rtl is None else rtl[1],
        ceiling_m=fence.limits.max_height_agl_m,
        terrain_refusal=None if terrain.acceptable else terrain.reason,
    )
    outcome.gate = gate
    audit("preflight_gate", **gate.as_record(), state=link.state.as_dict(),
          check=None if position_check is None else check_record(position_check))
    if not gate.permitted:
        raise NotPermitted("; ".join(gate.reasons),
                           "the vehicle keeps its previous fence; fix the cause and run fly again")
    say(f"fence synced: {len(sync.items_sent)} items read back identical; gate: permitted")

    runner = GuardRunner(fence, KinematicState, guard_config, peer, lambda: link.state, link.send,
                         audit, clock, lambda: link.rx_time_s, ground_amsl_m)
    link.add(runner)
    if with_camera:
        capture = CaptureRuntime(sections, str(operation.source), fence, vault, open_frames,
                                 vehicle_system_id=autopilot.system_id,
                                 incident_ref=operation.incident_ref, say=say, clock=clock)
        link.add(HostedComponent(link, capture.component_id, capture.on_message, capture.tick,
                                 system_id=autopilot.system_id))
        outcome.capture = capture
        capture.start()
        console.bind_trigger(capture.pilot, capture.trigger_config.pilot_key)
        audit("camera_attached", source=capture.camera_config.source,
              component_id=capture.component_id, privacy_zones=[z[0] for z in fence.privacy_zones_local()])
        say(f"camera attached as MAVLink component {autopilot.system_id}/{capture.component_id}; "
            "recording only while an evidence trigger is set")
    if options.takeoff_alt_m is not None:
        _take_off(link, peer, options.takeoff_alt_m, audit, say)
    was_armed = link.state.armed
    start = clock()
    next_status = start
    for event in link.monitor.drain_events():  # losses/recoveries during the fence sync
        audit(event.kind, silence_s=round(event.silence_s, 3))
    reconnects = link.reconnects
    while True:
        link.step()
        ask_after = None  # what brought the link back, if it came back in this turn
        for event in link.monitor.drain_events():
            cause = getattr(link.transport, "last_error", None) if event.kind == "link_lost" else None
            audit(event.kind, silence_s=round(event.silence_s, 3), state=link.state.as_dict(),
                  **({"cause": cause} if cause else {}))
            say(f"{event.kind.replace('_', ' ')} (silence {event.silence_s:.1f} s"
                f"{'; ' + cause if cause else ''})")
            if event.kind == "link_restored":
                ask_after = event.kind
        if link.reconnects != reconnects:  # a reopened link may come back before link loss is noticed
            reconnects = link.reconnects
            cause = getattr(link.transport, "last_error", None)
            audit("link_reconnected", reconnects=reconnects, cause=cause)
            say(f"reconnected to {options.connect} (after: {cause})")
            ask_after = "link_reconnected"
        if ask_after is not None:
            _rerequest_streams(link, peer, asked_hz, ask_after, audit, say)
        state = link.state
        was_armed = was_armed or state.armed
        now = clock()
        if now >= next_status:
            next_status = now + options.status_interval_s
            decision = runner.last_decision
            console.show(flight_status(
                state, link.monitor.up, None if decision is None else decision.check,
                runner.guard.phase.value, fence.limits.max_height_agl_m,
                None if outcome.capture is None else outcome.capture.status(), vault.flight_dir))
        if was_armed and not state.armed:
            audit("landed_disarmed", state=state.as_dict())
            say("landed and disarmed")
            break
        if options.duration_s is not None and now - start >= options.duration_s:
            audit("guard_end", reason=f"--duration {options.duration_s:g} s elapsed",
                  state=state.as_dict())
            break
        if stop_requested():
            audit("guard_end", reason="stop requested", state=state.as_dict())
            break
    outcome.reactions = list(runner.reactions)
    outcome.stops = runner.guard.stops


def _rerequest_streams(link: Link, peer, asked_hz: dict[str, float], after: str, audit, say) -> None:  # noqa: ANN001
    """After a link loss the vehicle may have rebooted, or a reopened connection may be a new channel:
    ask for the telemetry again (the guard runs on meanwhile); a failure is a warning, not the end."""
    try:
        streams = link.run(StreamSetup(peer, asked_hz), timeout_s=STREAM_REQUEST_TIMEOUT_S)
    except VehicleError as exc:
        audit("streams_rerequest_failed", error=exc.one_line(), after=after)
        say(f"WARNING: telemetry not re-requested after the link came back: {exc.one_line()}")
        return
    audit("streams", methods=dict(streams.methods), after=after)
    say("telemetry re-requested after the link came back")


def _take_off(link: Link, peer, alt_m: float, audit, say) -> None:  # noqa: ANN001
    link.run(ModeChange(peer, "GUIDED"))
    deadline = link.clock() + 60.0
    while True:
        try:
            link.run(CommandLong(peer, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, (1,)))
            break
        except CommandRejected as exc:
            if link.clock() > deadline:
                raise
            say(f"arm refused, retrying: {exc.message}")
            _run_until(link, lambda: False, 2.0)
    audit("arm", state=link.state.as_dict())
    link.run(CommandLong(peer, mavlink.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, 0, 0, 0, alt_m)))
    audit("takeoff", alt_m=alt_m, state=link.state.as_dict())
    say(f"armed, taking off to {alt_m:g} m")
