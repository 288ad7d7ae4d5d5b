"""A plain DroneKit mission flown beside ``drone-agent fly``: take off, fly a leg, return.

The script knows nothing about the agent. It has its own MAVLink connection to the vehicle (the
agent has another one). When the agent stops the aircraft before a boundary, the script sees what
any ground station sees: the mode change (BRAKE, LOITER or RTL) and the agent's STATUSTEXT with the
reason. It then does what a script or pilot may do after a stop: switch back to GUIDED and fly the
next leg (by default the same leg again, which the agent stops again while it closes on the
boundary). Finally it flies home with RTL and waits until the vehicle has landed and disarmed.

    drone-agent fly --config op.toml --connect tcp:127.0.0.1:5760      # wait for "gate: permitted"
    python examples/dronekit_mission.py --connect tcp:127.0.0.1:5762 --north-m 150 150 --speed-mps 10

``--north-m`` (one value per leg) is measured from where the vehicle took off. ArduCopter refuses a
GUIDED destination outside its own enabled fence (which the agent always sets up), so a leg that
ends beyond the operation area never starts (reported as ``goto_ignored``); choose points inside
the area. ``--goto simple`` (the default) uses
DroneKit's ``simple_goto`` (MISSION_ITEM with current=2); ``--goto target`` sends
SET_POSITION_TARGET_GLOBAL_INT instead. Both end in the same ArduCopter call (ModeGuided
set_destination). The project's simulator (``drone-agent sim``) does not handle ``simple_goto``
yet, so use ``--goto target`` there.

Needs ``pip install 'drone-agent[dronekit]'`` (dronekit2, which imports as ``dronekit``; never install
the original ``dronekit`` beside it). Prints one JSON line per observation on stdout (``kind``:
``connected``, ``mode``, ``statustext``, ``armed``, ``airborne``, ``leg``, ``guided_refused``,
``goto``, ``moving``, ``goto_ignored``, ``leg_end``, ``rtl``, ``landed``, ``timeout``); exit code 0 when it has landed, 1 on a timeout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections.abc import Callable

from dronekit import LocationGlobalRelative, Vehicle, VehicleMode, connect
from pymavlink import mavutil

EARTH_M_PER_DEG = 111_319.5  # metres per degree of latitude (ArduPilot's LATLON_TO_M)
POSITION_ONLY_MASK = 0b0000_1101_1111_1000  # SET_POSITION_TARGET_*: x, y, z only (ArduPilot docs)
STILL_MPS = 0.3
MOVING_MPS = 1.0

_out = threading.Lock()  # DroneKit calls listeners from its own thread


def emit(kind: str, **fields: object) -> None:
    line = json.dumps({"t": round(time.monotonic(), 3), "kind": kind, **fields})
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Timeout(Exception):
    pass


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise Timeout(what)
        time.sleep(0.05)


def ground_speed_mps(vehicle: Vehicle) -> float:
    velocity = vehicle.velocity  # [vn, ve, vd] in m/s from GLOBAL_POSITION_INT
    return math.hypot(velocity[0], velocity[1]) if velocity and None not in velocity[:2] else 0.0


def north_of(origin: LocationGlobalRelative, location: LocationGlobalRelative) -> float:
    return (location.lat - origin.lat) * EARTH_M_PER_DEG


def go_north(vehicle: Vehicle, origin: LocationGlobalRelative, north_m: float, alt_m: float,
             speed_mps: float, method: str) -> None:
    target = LocationGlobalRelative(origin.lat + north_m / EARTH_M_PER_DEG, origin.lon, alt_m)
    if method == "simple":
        vehicle.simple_goto(target, groundspeed=speed_mps)
        return
    vehicle.send_mavlink(vehicle.message_factory.set_position_target_global_int_encode(
        0, 0, 0, mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, POSITION_ONLY_MASK,
        round(target.lat * 1e7), round(target.lon * 1e7), alt_m, 0, 0, 0, 0, 0, 0, 0, 0))
    vehicle.groundspeed = speed_mps  # after the target: a new destination resets the speed


def ensure_guided(vehicle: Vehicle, timeout_s: float = 5.0) -> bool:
    """Switch to GUIDED; False if the vehicle is not in GUIDED after ``timeout_s`` (for example
    because the agent put it straight back into BRAKE: it was still drifting towards a boundary)."""
    if vehicle.mode.name == "GUIDED":
        return True
    vehicle.mode = VehicleMode("GUIDED")
    try:
        wait_for(lambda: vehicle.mode.name == "GUIDED", timeout_s, "GUIDED")
    except Timeout:
        emit("guided_refused", mode=vehicle.mode.name)
        return False
    return True


def fly(vehicle: Vehicle, args: argparse.Namespace) -> None:
    wait_for(lambda: vehicle.is_armable, args.timeout_s, "armable")
    if not ensure_guided(vehicle, 10.0):
        raise Timeout("GUIDED before arming")
    arm_deadline = time.monotonic() + 60
    while not vehicle.armed:  # the autopilot may still refuse for a moment (pre-arm checks)
        vehicle.armed = True
        try:
            wait_for(lambda: vehicle.armed, 3, "armed")
        except Timeout:
            if time.monotonic() > arm_deadline:
                raise
    emit("armed")
    vehicle.simple_takeoff(args.alt_m)
    wait_for(lambda: vehicle.location.global_relative_frame.alt >= args.alt_m * 0.95, 120,
             "take-off height")
    origin = vehicle.location.global_relative_frame
    emit("airborne", alt_m=round(origin.alt, 2))

    for leg, north_m in enumerate(args.north_m, start=1):
        emit("leg", leg=leg, north_m=north_m, speed_mps=args.speed_mps, method=args.goto)
        if not ensure_guided(vehicle):
            emit("leg_end", leg=leg, mode=vehicle.mode.name,
                 north_m=round(north_of(origin, vehicle.location.global_relative_frame), 2))
            continue
        emit("goto", leg=leg)
        go_north(vehicle, origin, north_m, args.alt_m, args.speed_mps, args.goto)
        try:
            wait_for(lambda: ground_speed_mps(vehicle) > MOVING_MPS or vehicle.mode.name != "GUIDED",
                     args.start_timeout_s, "moving")
            if vehicle.mode.name == "GUIDED":
                emit("moving", leg=leg)
        except Timeout:  # e.g. the destination is outside the flight controller's fence
            emit("goto_ignored", leg=leg, mode=vehicle.mode.name)
        wait_for(lambda: vehicle.mode.name != "GUIDED" or ground_speed_mps(vehicle) < STILL_MPS,
                 args.timeout_s, "stop or arrival")
        wait_for(lambda: ground_speed_mps(vehicle) < STILL_MPS, 60, "standstill")
        emit("leg_end", leg=leg, mode=vehicle.mode.name,
             north_m=round(north_of(origin, vehicle.location.global_relative_frame), 2))

    vehicle.mode = VehicleMode("RTL")
    emit("rtl")
    wait_for(lambda: not vehicle.armed, args.timeout_s, "landed and disarmed")
    emit("landed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True,
                        help="MAVLink connection, e.g. tcp:127.0.0.1:5762 (SITL's second port)")
    parser.add_argument("--alt-m", type=float, default=30.0, help="take-off height above home")
    parser.add_argument("--north-m", type=float, nargs="+", default=[150.0, 150.0],
                        help="end of each leg, metres north of the take-off point (one leg per "
                             "value; default: the same leg twice)")
    parser.add_argument("--speed-mps", type=float, default=10.0, help="ground speed on the legs")
    parser.add_argument("--goto", choices=("simple", "target"), default="simple",
                        help="simple_goto (MISSION_ITEM current=2) or SET_POSITION_TARGET_GLOBAL_INT")
    parser.add_argument("--start-timeout-s", type=float, default=10.0,
                        help="a goto that has not made the vehicle move after this long is reported "
                             "as ignored")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="give up after this long")
    args = parser.parse_args()

    vehicle = connect(args.connect, wait_ready=True, heartbeat_timeout=60)
    emit("connected", connection=args.connect)

    @vehicle.on_message("STATUSTEXT")
    def _statustext(_vehicle, _name, message):  # noqa: ANN001, ANN202 -- DroneKit's signature
        emit("statustext", severity=message.severity, text=message.text,
             source=[message.get_srcSystem(), message.get_srcComponent()])

    @vehicle.on_attribute("mode")
    def _mode(_vehicle, _name, mode):  # noqa: ANN001, ANN202
        emit("mode", mode=mode.name)

    try:
        fly(vehicle, args)
    except Timeout as exc:
        emit("timeout", waiting_for=str(exc), mode=vehicle.mode.name, armed=vehicle.armed)
        return 1
    finally:
        vehicle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
