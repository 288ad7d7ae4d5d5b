"""CLI subcommands of ``drone_agent.sim`` (registered by drone_agent.cli).

``drone-agent sim --home LAT,LON,ALT [--port 5760] [--gcs-port 5762] [--udp-port N] [--speedup N]
[--seed N] [--param NAME=VALUE ...] [--fast-boot] [--host ADDR] [--camera WxH@FPS [--camera-port N]
[--camera-hfov DEG] [--privacy-zones GEOJSON [--ground-truth]]]`` runs the simulator in the
foreground until Ctrl-C, so ``drone-agent fly``, MAVProxy or QGroundControl can connect to it; with
``--camera`` the gimbal camera is also served as an HTTP MJPEG stream.
"""

from __future__ import annotations

import argparse
import signal

from drone_agent.errors import InputError


def _param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. FENCE_ENABLE=1)")
    try:
        return name.strip().upper(), float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: value is not a number") from exc


def _camera(text: str) -> tuple[int, int, float]:
    size, _, fps = text.partition("@")
    w, _, h = size.lower().partition("x")
    try:
        return int(w), int(h), float(fps or 10)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT@FPS (e.g. 640x480@10)"
                                         ) from exc


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    p = sub.add_parser("sim", help="run the ArduCopter-like simulator in the foreground",
                       description="Run the built-in ArduCopter-like MAVLink simulator. The "
                       "vehicle clock starts when the first client connects, as SITL's does.")
    p.add_argument("--home", required=True, metavar="LAT,LON,ALT",
                   help="home position: degrees, degrees, metres AMSL")
    p.add_argument("--port", type=int, default=5760, help="agent TCP port (default 5760)")
    p.add_argument("--gcs-port", type=int, default=5762, help="GCS TCP port (default 5762)")
    p.add_argument("--udp-port", type=int, default=None, help="also serve MAVLink on this UDP port")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--speedup", type=float, default=1.0, help="vehicle time / wall time (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed for wind, GPS noise and terrain")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                   help="set an ArduPilot parameter at boot (repeatable), e.g. SIM_WIND_SPD=5")
    p.add_argument("--fast-boot", action="store_true",
                   help="compress the ~41 s start-up (EKF/GPS) to ~1 s")
    p.add_argument("--camera", type=_camera, metavar="WxH@FPS",
                   help="serve the gimbal camera as HTTP MJPEG, e.g. 640x480@10")
    p.add_argument("--camera-port", type=int, default=8080, help="MJPEG HTTP port (default 8080)")
    p.add_argument("--camera-hfov", type=float, default=78.0,
                   help="camera horizontal field of view, degrees (default 78)")
    p.add_argument("--privacy-zones", metavar="GEOJSON",
                   help="privacy polygons (GeoJSON) for --ground-truth frames")
    p.add_argument("--ground-truth", action="store_true",
                   help="paint the privacy zones in pure magenta (255,0,255 BGR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drone_agent.sim.server import SimServer, build_vehicle, parse_home

    if args.speedup <= 0:
        raise InputError(f"--speedup {args.speedup} must be positive", "e.g. --speedup 1")
    vehicle = build_vehicle(parse_home(args.home), args.seed, dict(args.param), args.fast_boot)
    server = SimServer(vehicle, speedup=args.speedup, host=args.host, agent_port=args.port,
                       gcs_port=args.gcs_port, udp_port=args.udp_port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    mjpeg = _start_camera(args, vehicle) if args.camera else None
    ports = server.ports
    print(f"drone-agent sim: agent tcp:{args.host}:{ports['agent']}  gcs tcp:{args.host}:"
          f"{ports['gcs']}" + (f"  udp {args.host}:{ports['udp']}" if "udp" in ports else "")
          + f"  speedup {args.speedup:g}" + (f"  camera {mjpeg.url}" if mjpeg else "")
          + "  (Ctrl-C to stop)", flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if mjpeg is not None:
            mjpeg.close()
    return 0


def _start_camera(args: argparse.Namespace, vehicle):
    from pathlib import Path

    from drone_agent.errors import EnvironmentFault
    from drone_agent.sim.camera import CameraSpec, SyntheticCamera, load_privacy_geojson
    from drone_agent.sim.mjpeg import MjpegCameraServer, vehicle_pose

    if args.ground_truth and not args.privacy_zones:
        raise InputError("--ground-truth needs --privacy-zones", "give the GeoJSON zone file")
    width, height, fps = args.camera
    zones = load_privacy_geojson(Path(args.privacy_zones)) if args.privacy_zones else []
    home = (vehicle.origin.lat_deg, vehicle.origin.lon_deg, vehicle.origin.alt_amsl_m)
    camera = SyntheticCamera(home, CameraSpec(width, height, args.camera_hfov, fps),
                             seed=args.seed, privacy_polygons=zones, ground_truth=args.ground_truth)
    try:
        server = MjpegCameraServer(camera, lambda: vehicle_pose(vehicle), args.host,
                                   args.camera_port)
    except OSError as exc:
        raise EnvironmentFault(f"camera port {args.camera_port}: {exc.strerror}",
                               "choose another --camera-port") from exc
    return server.start()
