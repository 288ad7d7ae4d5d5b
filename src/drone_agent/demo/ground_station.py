"""The demo's ground station: a pilot's GCS on its own MAVLink connection (pymavlink).

It flies the scripted sortie the way a pilot with QGroundControl or MAVProxy would -- GUIDED
targets, mode changes, the MAVLink camera protocol -- and watches what the agent does in reply
(mode changes, the agent's STATUSTEXT). It knows nothing of the agent's internals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import VehicleError
from drone_agent.geofence import LocalFrame

COPTER_MODES = {"STABILIZE": 0, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9, "BRAKE": 17}
MODE_NAMES = {v: k for k, v in COPTER_MODES.items()}
CAMERA_COMPONENT = 100


@dataclass
class Observed:
    """What the ground station has seen of the vehicle so far."""

    north_m: float = 0.0
    east_m: float = 0.0
    alt_rel_m: float = 0.0
    speed_mps: float = 0.0
    mode: str = "UNKNOWN"
    armed: bool = False
    track: list[tuple[float, float, float]] = field(default_factory=list)
    agent_texts: list[str] = field(default_factory=list)
    modes_seen: list[str] = field(default_factory=list)


class GroundStation:
    def __init__(self, connection: str, frame: LocalFrame, speedup: float,
                 say: Callable[[str], None]) -> None:
        self.mav = mavutil.mavlink_connection(connection, source_system=255, source_component=190,
                                              dialect="ardupilotmega")
        self.frame = frame
        self.speedup = speedup
        self.say = say
        self.seen = Observed()
        self._next_heartbeat_s = 0.0
        self._acks: dict[tuple[int, int], int] = {}
        self._chunks: dict[int, dict[int, str]] = {}
        # like any ground station: ask for telemetry (real ArduPilot streams nothing unasked on
        # a second port)
        self.mav.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_ALL, 10, 1)

    def close(self) -> None:
        self.mav.close()

    # -- plumbing ------------------------------------------------------------------------------
    def pump(self, seconds: float = 0.05) -> None:
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= self._next_heartbeat_s:
                self.mav.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                self._next_heartbeat_s = now + 1.0
            msg = self.mav.recv_match(blocking=True, timeout=max(0.0, min(0.05, end - now)))
            if msg is not None:
                self._observe(msg)
            if time.monotonic() >= end:
                return

    def _observe(self, msg: mavlink.MAVLink_message) -> None:
        kind, src = msg.get_type(), (msg.get_srcSystem(), msg.get_srcComponent())
        if kind == "GLOBAL_POSITION_INT" and src == (1, 1) and (msg.lat or msg.lon):
            east, north = self.frame.to_local(msg.lat / 1e7, msg.lon / 1e7)
            self.seen.north_m, self.seen.east_m, self.seen.alt_rel_m = north, east, msg.relative_alt / 1e3
            self.seen.speed_mps = math.hypot(msg.vx, msg.vy) / 100.0
            self.seen.track.append((north, east, self.seen.alt_rel_m))
        elif kind == "HEARTBEAT" and src == (1, 1):
            mode = MODE_NAMES.get(msg.custom_mode, str(msg.custom_mode))
            if mode != self.seen.mode:
                self.seen.modes_seen.append(mode)
            self.seen.mode = mode
            self.seen.armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        elif kind == "STATUSTEXT" and src[0] != 1:
            text = self._join_chunks(msg)
            if text is not None:
                self.seen.agent_texts.append(text)
                self.say(f"GCS sees agent STATUSTEXT: {text}")
        elif kind == "COMMAND_ACK":
            self._acks[(msg.command, src[1])] = msg.result

    def _join_chunks(self, msg: mavlink.MAVLink_message) -> str | None:
        """A MAVLink 2 chunked STATUSTEXT (id != 0) is complete at its first short chunk."""
        if not msg.id:
            return msg.text
        parts = self._chunks.setdefault(msg.id, {})
        parts[msg.chunk_seq] = msg.text
        if len(msg.text) >= 50:
            return None
        del self._chunks[msg.id]
        return "".join(parts[i] for i in sorted(parts))

    def wait(self, done: Callable[[], bool], sim_seconds: float, what: str) -> None:
        end = time.monotonic() + sim_seconds / self.speedup + 5.0
        while not done():
            if time.monotonic() > end:
                raise VehicleError(f"demo: timed out waiting for {what}",
                                   "see the agent's lines above for the reason")
            self.pump()

    # -- pilot actions -------------------------------------------------------------------------
    def command(self, command: int, params: tuple[float, ...], component: int = 1) -> int:
        key = (command, component)
        self._acks.pop(key, None)
        padded = (*params, 0, 0, 0, 0, 0, 0, 0)[:7]
        for attempt in range(3):
            self.mav.mav.command_long_send(1, component, command, attempt, *padded)
            try:
                self.wait(lambda: key in self._acks, 3.0, f"COMMAND_ACK for command {command}")
                return self._acks[key]
            except VehicleError:
                continue
        raise VehicleError(f"demo: no COMMAND_ACK for command {command} from component {component}",
                           "is the agent's camera component running?")

    def set_mode(self, name: str) -> None:
        self.mav.mav.set_mode_send(1, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, COPTER_MODES[name])
        self.wait(lambda: self.seen.mode == name, 10.0, f"mode {name}")

    def goto(self, north_m: float, east_m: float, alt_m: float, speed_mps: float) -> None:
        self.command(mavlink.MAV_CMD_DO_CHANGE_SPEED, (1, speed_mps, -1))
        lat, lon = self.frame.to_geo(east_m, north_m)
        self.mav.mav.set_position_target_global_int_send(
            0, 1, 1, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000_1111_1111_1000,
            int(lat * 1e7), int(lon * 1e7), alt_m, 0, 0, 0, 0, 0, 0, 0, 0)

    def push_velocity(self, north_mps: float, east_mps: float, until: Callable[[], bool],
                      sim_seconds: float, what: str) -> None:
        """Hold a velocity target (as a pilot's stick or a script does), resent at 5 Hz."""
        end = time.monotonic() + sim_seconds / self.speedup + 5.0
        while not until():
            if time.monotonic() > end:
                raise VehicleError(f"demo: timed out waiting for {what}",
                                   "see the agent's lines above for the reason")
            self.mav.mav.set_position_target_local_ned_send(
                0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, 0b0000_1111_1100_0111,
                0, 0, 0, north_mps, east_mps, 0, 0, 0, 0, 0, 0)
            self.pump(0.2 / self.speedup)

    def camera(self, command: int, params: tuple[float, ...]) -> int:
        return self.command(command, params, CAMERA_COMPONENT)

    def stopped(self) -> bool:
        return self.seen.speed_mps < 0.3
