"""A 2-axis (pitch, yaw) stabilised gimbal, pointed the way ArduPilot's AP_Mount is pointed.

Theory of operation
-------------------
The gimbal keeps its roll level and its pitch in the earth frame (stabilised); its yaw is either
relative to the vehicle ("follow", the default) or locked in the earth frame. Targets come from
MAV_CMD_DO_MOUNT_CONTROL (param1 pitch, param3 yaw, degrees, yaw relative to the vehicle) and
MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW (param1 pitch, param2 yaw, degrees; param5 flag
GIMBAL_MANAGER_FLAGS_YAW_LOCK = 16 means yaw in the earth frame); pitch is limited to -90..+20 degrees
and both axes slew at ``SLEW_DPS``. :meth:`Gimbal.status_fields` gives GIMBAL_DEVICE_ATTITUDE_STATUS
content: the quaternion holds roll 0, the earth-frame pitch and the yaw relative to the vehicle
(flag YAW_IN_VEHICLE_FRAME), as ArduPilot 4.5+ reports it; ``delta_yaw`` repeats that yaw.
The simulated gimbal starts pointing straight down (pitch -90), as an evidence camera usually does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PITCH_MIN_DEG = -90.0
PITCH_MAX_DEG = 20.0
SLEW_DPS = 90.0
YAW_LOCK_FLAG = 16
FLAGS_ROLL_LOCK = 4
FLAGS_PITCH_LOCK = 8
FLAGS_YAW_LOCK = 16
FLAGS_YAW_IN_VEHICLE_FRAME = 32
FLAGS_YAW_IN_EARTH_FRAME = 64


def _wrap180(angle_deg: float) -> float:
    return (angle_deg + 180.0) % 360.0 - 180.0


def euler_to_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a 3-2-1 rotation, radians (MAVLink's convention)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy)


@dataclass(slots=True)
class Gimbal:
    pitch_deg: float = -90.0
    yaw_rel_deg: float = 0.0
    target_pitch_deg: float = -90.0
    target_yaw_deg: float = 0.0
    yaw_locked: bool = False  # True: target_yaw_deg is an earth-frame heading

    def point(self, pitch_deg: float, yaw_deg: float, yaw_earth_frame: bool) -> None:
        self.target_pitch_deg = max(PITCH_MIN_DEG, min(PITCH_MAX_DEG, pitch_deg))
        self.target_yaw_deg = yaw_deg
        self.yaw_locked = yaw_earth_frame

    def update(self, dt_s: float, vehicle_yaw_deg: float) -> None:
        step = SLEW_DPS * dt_s
        dp = self.target_pitch_deg - self.pitch_deg
        self.pitch_deg += max(-step, min(step, dp))
        want = (_wrap180(self.target_yaw_deg - vehicle_yaw_deg) if self.yaw_locked
                else _wrap180(self.target_yaw_deg))
        dy = _wrap180(want - self.yaw_rel_deg)
        self.yaw_rel_deg = _wrap180(self.yaw_rel_deg + max(-step, min(step, dy)))

    def status_fields(self) -> tuple[int, tuple[float, float, float, float], float]:
        """(flags, quaternion w,x,y,z, delta_yaw rad) for GIMBAL_DEVICE_ATTITUDE_STATUS."""
        flags = FLAGS_ROLL_LOCK | FLAGS_PITCH_LOCK | FLAGS_YAW_IN_VEHICLE_FRAME
        if self.yaw_locked:
            flags |= FLAGS_YAW_LOCK
        q = euler_to_quaternion(0.0, math.radians(self.pitch_deg), math.radians(self.yaw_rel_deg))
        return flags, q, math.radians(self.yaw_rel_deg)
