"""The demo sortie, step by step (see ``drone-agent demo --help``).

Theory of operation
-------------------
Everything runs on this machine, on loopback, from the package's own parts: the simulator in a
child process (or real ArduPilot SITL with ``sitl=True``), the embedded SeaweedFS evidence store,
and the agent's ``fly`` (:func:`drone_agent.agent.flight.run_flight`) on a thread with the
simulator's gimbal camera attached. The main thread plays the pilot's ground station
(:mod:`.ground_station`) on a second MAVLink connection:

1. keys (``keys init`` with a demo evidence key pair), store, simulator;
2. the agent connects, syncs the fence, passes the pre-flight gate and takes off (``--takeoff``);
3. GCS: a 10 m/s leg north that would cross the operation-area boundary -> the guard stops it;
4. GCS: evidence trigger over the MAVLink camera protocol (VIDEO_START_CAPTURE to component 100);
5. GCS: back south over the private garden (a privacy zone: masked in every frame), a still;
6. GCS: VIDEO_STOP_CAPTURE, RTL; the agent sees the landing, seals and closes the flight;
7. verify the flight, upload it to the store (verified read-back), write the report.

Each step is checked, not just run; :class:`DemoResult` lists them and the exit code is 1 if any
failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import DroneAgentError

TAKEOFF_ALT_M = 40.0
LEG_SPEED_MPS = 10.0
PASS_SPEED_MPS = 5.0
PRIVACY_ZONE = "EXAMPLE private garden (privacy)"


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


@dataclass
class DemoResult:
    out_dir: Path
    steps: list[Step] = field(default_factory=list)
    flight_dir: Path | None = None
    report: Path | None = None
    keys_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def check(self, name: str, ok: bool, detail: str, say: Callable[[str], None]) -> bool:
        self.steps.append(Step(name, ok, detail))
        say(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
        return ok


def example_profile() -> Path:
    return Path(str(resources.files("drone_agent.configs") / "kent-example.toml"))


def run_demo(out_dir: Path, *, speedup: float = 3.0, sitl: bool = False,
             say: Callable[[str], None] = print) -> DemoResult:
    from drone_agent.cli import main as cli_main
    from drone_agent.evidence import DeviceKey, verify_flight
    from drone_agent.geofence import compile_fence, load_operation
    from drone_agent.store import EmbeddedStore

    out_dir = out_dir.resolve()
    result = DemoResult(out_dir)
    keys = out_dir / "keys"
    result.keys_dir = keys
    say(f"demo: everything goes under {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if cli_main(["keys", "init", "--dir", str(keys), "--demo-evidence-key"]) != 0:
        result.check("keys", False, "keys init failed", say)
        return result
    profile = example_profile()
    operation = load_operation(profile)
    home = operation.home
    assert home is not None, "the example profile names its launch point"
    fence = compile_fence(operation, home=home, now_utc=datetime.now(UTC))

    say("demo: starting the embedded evidence store (SeaweedFS on 127.0.0.1)")
    with EmbeddedStore(out_dir / "store") as store, _start_vehicle(home, speedup, sitl, say) as vehicle:
        flight = _fly_sortie(vehicle, profile, keys, out_dir / "flights", home, fence, speedup, say, result)
        if flight is None:
            return result
        result.flight_dir = flight
        report = verify_flight(flight)
        result.check("evidence verifies", report.intact and report.complete,
                     f"{report.segments_verified} segment(s), {report.stills_verified} still(s), "
                     f"{report.files_verified} file(s): "
                     + ("intact and complete" if report.intact and report.complete else "; ".join(report.problems)),
                     say)
        location = _upload(store, flight, DeviceKey.load(keys / "device-key.pem"), out_dir, say, result)
        _report(flight, out_dir, say, result)
        if location is not None:
            _decrypt_from_store(location, store, keys, out_dir, say, result)
    return result


def _start_vehicle(home: Any, speedup: float, sitl: bool, say: Callable[[str], None]) -> Any:
    """The simulator, or real ArduPilot SITL; both are context managers with the same interface."""
    from drone_agent.sim import SimulatorProcess, SitlProcess

    where = (home.lat_deg, home.lon_deg, home.alt_amsl_m or 0.0)
    if sitl:
        say("demo: starting real ArduPilot SITL (ARDUPILOT_SITL); it needs ~40 s before it can arm")
        return SitlProcess(home=where, speedup=speedup)
    say(f"demo: starting the simulator (ArduCopter-like, speed-up {speedup:g})")
    return SimulatorProcess(home=where, speedup=speedup, seed=1, fast_boot=True)


class _SimulatorCamera:
    """Opens the simulator's gimbal camera for the agent (its own MAVLink client) and closes it."""

    def __init__(self, connection: Callable[[], str], home: Any) -> None:
        self.connection, self.home, self.source = connection, home, None

    def __call__(self, camera: Any, _boot_time: Any) -> Any:
        from drone_agent.capture.sources import SimCameraSource
        from drone_agent.sim.camera import CameraSpec, SimFrameSource, SyntheticCamera

        spec = CameraSpec(camera.width_px, camera.height_px, camera.hfov_deg, camera.fps)
        home = (self.home.lat_deg, self.home.lon_deg, self.home.alt_amsl_m or 0.0)
        self.source = SimFrameSource(self.connection(), SyntheticCamera(home, spec),
                                     source_system=254, source_component=101)
        return SimCameraSource(self.source.frames())

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def _fly_sortie(vehicle: Any, profile: Path, keys: Path, flights: Path, home: Any, fence: Any,
                speedup: float, say: Callable[[str], None], result: DemoResult) -> Path | None:
    from drone_agent.agent.console import LineConsole
    from drone_agent.agent.flight import FlightThread, FlyOptions
    from drone_agent.demo.ground_station import GroundStation

    options = FlyOptions(connect=vehicle.agent_connection, out_dir=flights,
                         device_key=keys / "device-key.pem", recipient=keys / "evidence-recipient.txt",
                         config=profile, takeoff_alt_m=TAKEOFF_ALT_M, ready_timeout_s=120.0,
                         status_interval_s=5.0)
    camera = _SimulatorCamera(lambda: vehicle.camera_connection, home)
    agent = FlightThread(options, console=LineConsole(lambda line: say(f"  agent | {line}")),
                         open_frames=camera)
    agent.start()
    gcs = GroundStation(vehicle.gcs_connection, fence.frame, speedup, lambda line: say(f"  GCS   | {line}"))
    try:
        _pilot(gcs, fence, agent, say, result)
    except DroneAgentError as exc:
        result.check("sortie", False, exc.one_line(), say)
        agent.request_stop()  # the agent closes the flight folder; the simulator is stopped after it
    finally:
        agent.join(timeout=120)
        camera.close()
        gcs.close()
    if agent.error is not None:
        err = agent.error
        result.check("agent", False, err.one_line() if isinstance(err, DroneAgentError) else repr(err), say)
        return None
    flight = agent.outcome
    if flight is None:
        result.check("agent", False, "the agent did not finish", say)
        return None
    _check_flight(flight, say, result)
    return flight.flight_dir


def _pilot(gcs: Any, fence: Any, agent: Any, say: Callable[[str], None], result: DemoResult) -> None:
    seen = gcs.seen
    say("demo: agent connecting, syncing the fence, pre-flight gate, take-off")
    gcs.wait(lambda: not agent.is_alive() or (seen.armed and seen.alt_rel_m >= TAKEOFF_ALT_M - 2), 240.0,
             "the agent's take-off")
    if not agent.is_alive():
        return
    result.check("pre-flight gate and take-off", True, f"airborne at {seen.alt_rel_m:.0f} m, mode {seen.mode}", say)

    say(f"demo: GCS pushes north at {LEG_SPEED_MPS:g} m/s -- straight at the operation area's edge")
    gcs.push_velocity(LEG_SPEED_MPS, 0.0, lambda: seen.mode != "GUIDED", 90.0, "the guard to stop the leg")
    gcs.wait(gcs.stopped, 30.0, "the vehicle to stop")
    furthest = max(n for n, _, _ in seen.track)
    outside = [p for p in seen.track if not shapely.contains_xy(fence.area_local, p[1], p[0])]
    result.check("guard stops before the boundary", not outside and seen.mode in ("BRAKE", "LOITER"),
                 f"mode {seen.mode}; furthest north {furthest:.1f} m, "
                 f"{len(outside)} of {len(seen.track)} positions outside the operation area", say)

    gcs.set_mode("GUIDED")
    say("demo: GCS starts recording over the MAVLink camera protocol (VIDEO_START_CAPTURE)")
    ack = gcs.camera(mavlink.MAV_CMD_VIDEO_START_CAPTURE, (0, 1, 100))
    result.check("evidence trigger (MAVLink camera protocol)", ack == mavlink.MAV_RESULT_ACCEPTED,
                 f"COMMAND_ACK result {ack}", say)
    say("demo: GCS flies back south over the private garden (a privacy zone) and takes a still")
    gcs.goto(0.0, 0.0, TAKEOFF_ALT_M, PASS_SPEED_MPS)
    gcs.wait(lambda: seen.north_m < 75.0, 60.0, "the garden")
    gcs.camera(mavlink.MAV_CMD_IMAGE_START_CAPTURE, (0, 0, 1, 1))
    gcs.wait(lambda: abs(seen.north_m) < 3.0 and gcs.stopped(), 90.0, "arrival over home")
    gcs.pump(2.0)
    ack = gcs.camera(mavlink.MAV_CMD_VIDEO_STOP_CAPTURE, (0, 0))
    result.check("trigger off", ack == mavlink.MAV_RESULT_ACCEPTED, f"COMMAND_ACK result {ack}", say)

    say("demo: GCS commands RTL; the agent closes the flight when the vehicle has landed")
    gcs.set_mode("RTL")
    gcs.wait(lambda: not seen.armed, 240.0, "landing and disarm")
    gcs.wait(lambda: not agent.is_alive(), 60.0, "the agent to close the flight")
    result.check("return and land", True, f"landed and disarmed; modes seen {' > '.join(seen.modes_seen)}", say)


def _check_flight(flight: Any, say: Callable[[str], None], result: DemoResult) -> None:
    from drone_agent.evidence import read_flight_summary

    summary = read_flight_summary(flight.flight_dir)
    masked = {z for s in summary.segments for z in s.meta.get("masked_zones", [])}
    frames = sum(s.frame_count or 0 for s in summary.segments)
    result.check("privacy zone masked", PRIVACY_ZONE in masked,
                 f"{len(summary.segments)} segment(s), {frames} frames, masked zones: {sorted(masked) or 'none'}",
                 say)
    result.check("still over the privacy zone", len(summary.stills) == 1,
                 f"{len(summary.stills)} still(s) sealed", say)
    result.check("guard actions logged", flight.stops >= 1,
                 f"{flight.stops} stop(s); reaction (telemetry in -> command out) "
                 + ", ".join(f"{r.action} {r.reaction_s * 1000:.2f} ms" for r in flight.reactions[:3]), say)


def _upload(store: Any, flight: Path, device_key: Any, out_dir: Path, say: Callable[[str], None],
            result: DemoResult) -> str | None:
    """Upload with read-back verification; the flight's location in the store, None on failure."""
    import sys

    from drone_agent.evidence import verify_flight
    from drone_agent.store import StateDir, Uploader, make_client, resolve_store
    from drone_agent.store import evidence_link, progress

    say("demo: uploading to the evidence store (checksums, read-back verification)")
    try:
        cfg = resolve_store(store_name="embedded", stores_file=store.stores_file)
        cfg = dataclasses.replace(cfg, delete_local="keep")
        uploader = Uploader(cfg, make_client(cfg), StateDir(out_dir / "upload-state"), verify=verify_flight,
                            audit_for=evidence_link.audit_for_key(device_key),
                            summarize=evidence_link.summarize, progress=progress.for_stream(sys.stderr))
        up = uploader.upload_flight(flight)
    except DroneAgentError as exc:
        result.check("upload verified in the store", False, exc.one_line(), say)
        return None
    result.check("upload verified in the store", up.status == "uploaded" and up.files_sent == up.files_total,
                 f"{up.files_sent}/{up.files_total} files, {up.bytes_total / 1e6:.2f} MB to "
                 f"{up.location} ({up.status}); local copy kept for this demo", say)
    return up.location


def _report(flight: Path, out_dir: Path, say: Callable[[str], None], result: DemoResult) -> None:
    from drone_agent.report.commands import write_report

    html, png = write_report(flight, out_dir / "report.html")
    result.report = html
    result.check("report", html.is_file() and png.is_file(), f"{html} and {png}", say)


def _decrypt_from_store(location: str, store: Any, keys: Path, out_dir: Path, say: Callable[[str], None],
                        result: DemoResult) -> None:
    """The investigator verifies and decrypts the store's copy; the consultation is logged there."""
    from drone_agent.cli import main as cli_main

    say(f"demo: investigator decrypts the store's copy {location}")
    target = out_dir / "decrypted"
    code = cli_main(["decrypt", location, "--stores-file", str(store.stores_file), "--store", "embedded",
                     "--key", str(keys / "evidence-private-key.txt"), "--out", str(target),
                     "--who", "DC 4567 Demo (investigating officer)", "--reason", "demo: review the sortie"])
    videos = sorted(target.rglob("*.mp4"))
    result.check("investigator decrypts", code == 0 and bool(videos),
                 f"{len(videos)} playable MP4(s) under {target}, from the store's copy; consultation "
                 "logged in the store", say)
