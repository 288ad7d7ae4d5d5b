"""CLI subcommands of ``drone_agent.agent`` (registered by drone_agent.cli): ``fly``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from drone_agent.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    fly = sub.add_parser(
        "fly",
        help="connect to the vehicle, sync the fence, guard the flight, write the flight folder",
        description="Connect over MAVLink, put the operation's fence into the flight controller "
        "and read it back, refuse (exit 3) unless the pre-flight gate passes, then guard every "
        "position update until the vehicle has landed and disarmed.",
    )
    what = fly.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", type=Path, metavar="OP.toml", help="operation profile")
    what.add_argument("--zones", type=Path, action="append", default=[], metavar="FILE.geojson",
                      help="zone file (repeatable): quick form with default CAA limits and home "
                      "taken from the vehicle")
    fly.add_argument("--connect", required=True, metavar="CONNECTION",
                     help="tcp:HOST:PORT, udp:HOST:PORT (listen), udpin:HOST:PORT, "
                     "udpout:HOST:PORT, or a serial DEVICE[,BAUD]")
    fly.add_argument("--out", type=Path, default=Path("flights"), metavar="DIR",
                     help="folder for flight folders (default: flights)")
    fly.add_argument("--keys", type=Path, default=Path("keys"), metavar="DIR",
                     help="folder with device-key.pem and evidence-recipient.txt (default: keys)")
    fly.add_argument("--device-key", type=Path, metavar="PEM",
                     help="the aircraft's signing key (default: KEYS/device-key.pem)")
    fly.add_argument("--evidence-recipient", type=Path, metavar="FILE",
                     help="the evidence store's public key (default: KEYS/evidence-recipient.txt)")
    fly.add_argument("--passphrase-env", metavar="VAR",
                     help="read the device key's passphrase from environment variable VAR")
    fly.add_argument("--sysid", type=int, metavar="N",
                     help="our MAVLink system id (default 254, or [link] system_id)")
    fly.add_argument("--compid", type=int, metavar="N",
                     help="our MAVLink component id (default 191, or [link] component_id)")
    fly.add_argument("--signing-key", type=Path, metavar="FILE",
                     help="32-byte MAVLink 2 signing key (overrides [link] signing_key_file)")
    fly.add_argument("--takeoff", type=float, metavar="ALT_M",
                     help="after the gate passes, set GUIDED, arm and take off to ALT_M metres")
    fly.add_argument("--duration", type=float, metavar="S",
                     help="stop guarding after S seconds even if still flying (tests, benches)")
    fly.add_argument("--ready-timeout", type=float, default=120.0, metavar="S",
                     help="wait this long for GPS/EKF/home before the gate decides (default 120)")
    fly.add_argument("--status-interval", type=float, default=1.0, metavar="S",
                     help="seconds between status updates (default 1)")
    fly.add_argument("--camera", metavar="SOURCE",
                     help="attach a camera: OpenCV device index, video file, or rtsp:// / udp:// / "
                     "http:// stream (overrides [camera] source; needs [camera] width_px/height_px)")
    fly.add_argument("--no-upload-queue", action="store_true",
                     help="do not put the closed flight on the upload queue ('drone-agent upload --all')")
    fly.set_defaults(func=cmd_fly)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise InputError(f"{name} {value:g} must be > 0", f"give {name} a positive number")


def cmd_fly(args: argparse.Namespace) -> int:
    from drone_agent.agent.console import console_for_terminal
    from drone_agent.agent.flight import FlyOptions, run_flight

    for name in ("--takeoff", "--duration", "--ready-timeout", "--status-interval"):
        _positive(name, getattr(args, name[2:].replace("-", "_")))
    passphrase = None
    if args.passphrase_env:
        passphrase = os.environ.get(args.passphrase_env)
        if passphrase is None:
            raise InputError(f"environment variable {args.passphrase_env} is not set",
                             "export it, or drop --passphrase-env")
    options = FlyOptions(
        connect=args.connect,
        out_dir=args.out,
        device_key=args.device_key or args.keys / "device-key.pem",
        recipient=args.evidence_recipient or args.keys / "evidence-recipient.txt",
        config=args.config,
        zones=tuple(args.zones),
        passphrase=passphrase,
        system_id=args.sysid,
        component_id=args.compid,
        signing_key=args.signing_key,
        takeoff_alt_m=args.takeoff,
        duration_s=args.duration,
        ready_timeout_s=args.ready_timeout,
        status_interval_s=args.status_interval,
        camera_source=args.camera,
    )
    console = console_for_terminal()
    try:
        outcome = run_flight(options, console=console)
    finally:
        console.close()
    if outcome.flight_dir is not None and not args.no_upload_queue:
        from drone_agent.store import enqueue_flight

        enqueue_flight(outcome.flight_dir)
        print(f"queued for upload: {outcome.flight_dir} (send with 'drone-agent upload --all')")
    return outcome.exit_code
