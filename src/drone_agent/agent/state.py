"""Vehicle state as immutable snapshots, folded from the autopilot's telemetry.

Theory of operation
-------------------
:class:`StateTracker` observes every message from the autopilot (system/component fixed at
construction) and replaces its :attr:`StateTracker.state` with a *new* frozen
:class:`VehicleState` per relevant message (``dataclasses.replace``); nothing is ever mutated, so
a reader holding a snapshot (the guard, a status display on another thread) never sees a torn
position. Sources:

===========================  ====================================================================
HEARTBEAT                    mode (custom_mode), armed (base_mode SAFETY_ARMED), system_status
GLOBAL_POSITION_INT          lat/lon, alt AMSL, height above home (relative_alt), NED velocity,
                             time_boot_ms; ``position_seq`` counts these (one per position update)
ATTITUDE                     roll, pitch, yaw
TERRAIN_REPORT               height above terrain (current_height) when the report is valid
                             (spacing > 0), see ``height_agl_m``
GPS_RAW_INT                  fix type, satellites
EKF_STATUS_REPORT            EKF flags; healthy when attitude, velocity and position estimates are
                             all valid and the EKF is not in constant-position mode
SYS_STATUS                   battery voltage / remaining
BATTERY_STATUS               remaining (when SYS_STATUS does not say)
FENCE_STATUS                 breach status, type and count
HOME_POSITION                home lat/lon/alt
EXTENDED_SYS_STATE           landed state
===========================  ====================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.ardupilot import mode_name
from drone_agent.agent.session import Message, Outgoing

EKF_REQUIRED_FLAGS = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_VELOCITY_VERT
    | mavlink.EKF_POS_HORIZ_REL
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_POS_VERT_ABS
)
EKF_BAD_FLAGS = mavlink.EKF_CONST_POS_MODE | mavlink.EKF_UNINITIALIZED


@dataclass(frozen=True, slots=True)
class HomePosition:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True, slots=True)
class VehicleState:
    """Everything the agent knows about the vehicle at ``time_s`` (monotonic seconds)."""

    time_s: float = 0.0
    time_boot_ms: int | None = None
    position_seq: int = 0
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_home_m: float | None = None
    alt_agl_m: float | None = None  # above terrain, from the last TERRAIN_REPORT (1 Hz)
    terrain_ref_rel_home_m: float | None = None  # alt_rel_home_m when that report arrived
    terrain_reports: int = 0  # TERRAIN_REPORTs seen, valid or not
    vel_north_mps: float = 0.0
    vel_east_mps: float = 0.0
    vel_up_mps: float = 0.0
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0
    custom_mode: int | None = None
    armed: bool = False
    system_status: int = 0
    landed_state: int = mavlink.MAV_LANDED_STATE_UNDEFINED
    gps_fix_type: int = 0
    satellites: int = 0
    ekf_flags: int = 0
    battery_voltage_v: float | None = None
    battery_remaining_pct: int | None = None
    fence_breached: bool = False
    fence_breach_type: int = 0
    fence_breach_count: int = 0
    home: HomePosition | None = None

    @property
    def mode(self) -> str:
        return "UNKNOWN" if self.custom_mode is None else mode_name(self.custom_mode)

    @property
    def height_agl_m(self) -> float | None:
        """Height above the ground under the vehicle, at the rate of GLOBAL_POSITION_INT.

        The 1 Hz TERRAIN_REPORT height is carried forward with the 10 Hz home-relative altitude
        (the ground is assumed not to change within a second); without terrain data this is the
        height above home (``height_source`` says which).
        """
        if self.alt_rel_home_m is None:
            return None
        if self.alt_agl_m is None or self.terrain_ref_rel_home_m is None:
            return self.alt_rel_home_m
        return self.alt_agl_m + (self.alt_rel_home_m - self.terrain_ref_rel_home_m)

    @property
    def height_source(self) -> str:
        return "terrain" if self.alt_agl_m is not None else "home"

    @property
    def has_position(self) -> bool:
        return self.lat_deg is not None and self.lon_deg is not None

    @property
    def ground_speed_mps(self) -> float:
        return math.hypot(self.vel_north_mps, self.vel_east_mps)

    @property
    def gps_ok(self) -> bool:
        return self.gps_fix_type >= mavlink.GPS_FIX_TYPE_3D_FIX

    @property
    def ekf_ok(self) -> bool:
        flags = self.ekf_flags
        return flags & EKF_REQUIRED_FLAGS == EKF_REQUIRED_FLAGS and not flags & EKF_BAD_FLAGS

    @property
    def landed(self) -> bool:
        """On the ground: disarmed, or EXTENDED_SYS_STATE says ON_GROUND."""
        return not self.armed or self.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND

    def as_dict(self) -> dict[str, object]:
        """Plain fields for audit records and status output."""
        out: dict[str, object] = {name: getattr(self, name) for name in self.__slots__}
        out["home"] = None if self.home is None else {
            "lat_deg": self.home.lat_deg,
            "lon_deg": self.home.lon_deg,
            "alt_amsl_m": self.home.alt_amsl_m,
        }
        out["mode"] = self.mode
        out["height_agl_m"] = self.height_agl_m
        out["height_source"] = self.height_source
        return out


class StateTracker:
    """Fold the autopilot's telemetry into successive :class:`VehicleState` snapshots."""

    def __init__(self, system_id: int, component_id: int) -> None:
        self.system_id = system_id
        self.component_id = component_id
        self.state = VehicleState()

    deadline_s = None

    def poll(self, now_s: float) -> Outgoing:
        return []

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if msg.get_srcSystem() != self.system_id or msg.get_srcComponent() != self.component_id:
            return []
        update = _UPDATES.get(msg.get_type())
        if update is not None:
            self.state = replace(update(self.state, msg), time_s=now_s)
        return []


def _heartbeat(s: VehicleState, m: Message) -> VehicleState:
    return replace(
        s,
        custom_mode=m.custom_mode,
        armed=bool(m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED),
        system_status=m.system_status,
    )


def _position(s: VehicleState, m: Message) -> VehicleState:
    return replace(
        s,
        time_boot_ms=m.time_boot_ms,
        position_seq=s.position_seq + 1,
        lat_deg=m.lat / 1e7,
        lon_deg=m.lon / 1e7,
        alt_amsl_m=m.alt / 1000.0,
        alt_rel_home_m=m.relative_alt / 1000.0,
        vel_north_mps=m.vx / 100.0,
        vel_east_mps=m.vy / 100.0,
        vel_up_mps=-m.vz / 100.0,
    )


def _attitude(s: VehicleState, m: Message) -> VehicleState:
    return replace(
        s,
        roll_deg=math.degrees(m.roll),
        pitch_deg=math.degrees(m.pitch),
        yaw_deg=math.degrees(m.yaw),
    )


def _terrain(s: VehicleState, m: Message) -> VehicleState:
    # ArduPilot reports spacing 0 when it has no terrain data under the vehicle; current_height
    # is then the height above 0 m AMSL (seen in real SITL), so it must not be used.
    count = s.terrain_reports + 1
    if m.spacing == 0 or (m.lat == 0 and m.lon == 0):
        return replace(s, alt_agl_m=None, terrain_ref_rel_home_m=None, terrain_reports=count)
    return replace(s, alt_agl_m=float(m.current_height), terrain_ref_rel_home_m=s.alt_rel_home_m,
                   terrain_reports=count)


def _gps(s: VehicleState, m: Message) -> VehicleState:
    return replace(s, gps_fix_type=m.fix_type, satellites=m.satellites_visible)


def _ekf(s: VehicleState, m: Message) -> VehicleState:
    return replace(s, ekf_flags=m.flags)


def _sys_status(s: VehicleState, m: Message) -> VehicleState:
    voltage = None if m.voltage_battery in (0, 0xFFFF) else m.voltage_battery / 1000.0
    remaining = None if m.battery_remaining < 0 else m.battery_remaining
    return replace(s, battery_voltage_v=voltage, battery_remaining_pct=remaining)


def _fence(s: VehicleState, m: Message) -> VehicleState:
    return replace(
        s,
        fence_breached=bool(m.breach_status),
        fence_breach_type=m.breach_type,
        fence_breach_count=m.breach_count,
    )


def _home(s: VehicleState, m: Message) -> VehicleState:
    return replace(s, home=HomePosition(m.latitude / 1e7, m.longitude / 1e7, m.altitude / 1000.0))


def _extended(s: VehicleState, m: Message) -> VehicleState:
    return replace(s, landed_state=m.landed_state)


_UPDATES = {
    "HEARTBEAT": _heartbeat,
    "GLOBAL_POSITION_INT": _position,
    "ATTITUDE": _attitude,
    "TERRAIN_REPORT": _terrain,
    "GPS_RAW_INT": _gps,
    "EKF_STATUS_REPORT": _ekf,
    "SYS_STATUS": _sys_status,
    "FENCE_STATUS": _fence,
    "HOME_POSITION": _home,
    "EXTENDED_SYS_STATE": _extended,
}
