"""A plain DroneKit mission flown beside ``drone-agent fly``: take off, fly a leg, return.

The script knows nothing about the agent. It flies its own MAVLink connection to the vehicle (the
agent has another one); when the agent stops the aircraft before a boundary, the script sees what any
ground station sees: the mode change (BRAKE, LOITER or RTL) and the agent's STATUSTEXT with the reason.

    python examples/dronekit_mission.py --connect tcp:127.0.0.1:5762 --north-m 400 --speed-mps 10

Needs ``pip install 'drone-agent[dronekit]'`` (dronekit2, which imports as ``dronekit``; never install
the original ``dronekit`` beside it). Prints one JSON line per observation so a test can follow it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from dronekit import LocationGlobalRelative, VehicleMode, connect


def emit(kind: str, **fields: object) -> None:
    print(json.dumps({"t": round(time.monotonic(), 2), "kind": kind, **fields}), flush=True)


def offset(home: LocationGlobalRelative, north_m: float, alt_m: float) -> LocationGlobalRelative:
    return LocationGlobalRelative(home.lat + north_m / 111_320.0, home.lon, alt_m)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            emit("timeout", waiting_for=what)
            sys.exit(1)
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True, help="MAVLink connection, e.g. tcp:127.0.0.1:5762")
    parser.add_argument("--alt-m", type=float, default=30.0, help="take-off height above home")
    parser.add_argument("--north-m", type=float, default=400.0, help="length of the leg north of home")
    parser.add_argument("--speed-mps", type=float, default=10.0, help="ground speed on the leg")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()

    vehicle = connect(args.connect, wait_ready=True, heartbeat_timeout=60)

    @vehicle.on_message("STATUSTEXT")
    def _statustext(_vehicle, _name, message):  # noqa: ANN001 - DroneKit's listener signature
        emit("statustext", severity=message.severity, text=message.text)

    @vehicle.on_attribute("mode")
    def _mode(_vehicle, _name, mode):  # noqa: ANN001
        emit("mode", mode=mode.name)

    wait_for(lambda: vehicle.is_armable, args.timeout_s, "armable")
    vehicle.mode = VehicleMode("GUIDED")
    wait_for(lambda: vehicle.mode.name == "GUIDED", 10, "GUIDED")
    vehicle.armed = True
    wait_for(lambda: vehicle.armed, 30, "armed")
    vehicle.simple_takeoff(args.alt_m)
    wait_for(lambda: vehicle.location.global_relative_frame.alt >= args.alt_m * 0.95, 60, "take-off height")
    home = vehicle.location.global_relative_frame
    emit("airborne", alt_m=home.alt)

    for leg in (1, 2):
        if vehicle.mode.name != "GUIDED":
            vehicle.mode = VehicleMode("GUIDED")
            wait_for(lambda: vehicle.mode.name == "GUIDED", 10, "GUIDED again")
        emit("goto", leg=leg, north_m=args.north_m)
        vehicle.simple_goto(offset(home, args.north_m, args.alt_m), groundspeed=args.speed_mps)
        time.sleep(1.0)
        wait_for(lambda: vehicle.mode.name != "GUIDED" or math.hypot(*vehicle.velocity[:2]) < 0.3,
                 args.timeout_s, "stop or arrival")
        emit("leg_end", leg=leg, mode=vehicle.mode.name,
             north_m=(vehicle.location.global_relative_frame.lat - home.lat) * 111_320.0)
        wait_for(lambda: math.hypot(*vehicle.velocity[:2]) < 0.3, 30, "standstill")

    vehicle.mode = VehicleMode("RTL")
    wait_for(lambda: not vehicle.armed, args.timeout_s, "landed and disarmed")
    emit("landed")
    vehicle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
