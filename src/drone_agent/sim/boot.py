"""ArduCopter's start-up timeline and pre-arm failures, as recorded from real SITL.

Theory of operation
-------------------
Real ArduCopter SITL (fixtures, speed-up 1) goes through the same stages every time: "ArduPilot
Ready" ~2.35 s after the client connects (a mode set before then is overwritten with STABILIZE),
EKF initialised ~4.3 s, the GPS detected ~9.7 s, the EKF origin and home set ~19.9 s, and "EKF3 IMU0
is using GPS" at ~41.3 s, the first moment GUIDED arming succeeds. Until then every arming attempt
is refused with COMMAND_ACK FAILED and one STATUSTEXT per failing check, whose set changes with
the stage. :class:`BootTimeline` reproduces that from the vehicle clock; ``fast_boot`` compresses
it 40 times (armable after ~1 s) for tests that do not measure start-up. Pure, no clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

READY_S = 2.35
EKF_INIT_S = 4.34
TILT_DONE_S = 5.69
GYRO_PHASE_S = 13.5
GPS_DETECT_S = 9.7
ORIGIN_S = 19.9
GYRO_DONE_S = 23.0
EKF_GPS_S = 41.3
FAST_BOOT_FACTOR = 1.0 / 40.0

# (vehicle seconds, STATUSTEXT severity, text)
_MESSAGES = (
    (1.19, 6, "ArduCopter V4.8.0-dev (drone-agent sim)"),
    (1.19, 6, "Frame: QUAD/PLUS"),
    (1.81, 6, "Barometer 1 calibration complete"),
    (READY_S, 6, "ArduPilot Ready"),
    (READY_S, 6, "AHRS: DCM active"),
    (EKF_INIT_S, 6, "EKF3 IMU0 initialised"),
    (EKF_INIT_S, 6, "AHRS: EKF3 active"),
    (TILT_DONE_S, 6, "EKF3 IMU0 tilt alignment complete"),
    (5.79, 6, "EKF3 IMU0 MAG0 initial yaw alignment complete"),
    (GPS_DETECT_S - 0.02, 6, "GPS 1: probing for u-blox at 230400 baud"),
    (GPS_DETECT_S, 6, "GPS 1: detected u-blox"),
    (ORIGIN_S, 6, "EKF3 IMU0 origin set"),
    (ORIGIN_S + 0.03, 6, "Field Elevation Set: {home_alt:.0f}m"),
    (EKF_GPS_S, 6, "EKF3 IMU0 is using GPS"),
)


@dataclass(frozen=True, slots=True)
class BootTimeline:
    """Start-up stages as functions of vehicle time since the clock started."""

    scale: float = 1.0

    @classmethod
    def create(cls, fast_boot: bool) -> BootTimeline:
        return cls(FAST_BOOT_FACTOR if fast_boot else 1.0)

    def ready(self, t_s: float) -> bool:
        return t_s >= READY_S * self.scale

    def ekf_initialised(self, t_s: float) -> bool:
        return t_s >= EKF_INIT_S * self.scale

    def gps_fix(self, t_s: float) -> bool:
        return t_s >= GPS_DETECT_S * self.scale

    def origin_set(self, t_s: float) -> bool:
        return t_s >= ORIGIN_S * self.scale

    def position_ok(self, t_s: float) -> bool:
        return t_s >= EKF_GPS_S * self.scale

    def messages_between(self, t0_s: float, t1_s: float, home_alt_m: float
                         ) -> list[tuple[int, str]]:
        """Boot STATUSTEXTs due in (t0, t1]."""
        return [(sev, text.format(home_alt=home_alt_m)) for at, sev, text in _MESSAGES
                if t0_s < at * self.scale <= t1_s]

    def prearm_failures(self, t_s: float, fence_needs_position: bool) -> list[str]:
        """The 'Arm: ...' checks that fail at ``t_s`` (empty once the EKF uses GPS)."""
        t = t_s / self.scale
        if t < READY_S:
            return ["System not initialised"]
        fence = ["Fence requires position"] if fence_needs_position and t < ORIGIN_S else []
        if t < TILT_DONE_S:
            return ["Need Alt Estimate", "Accels inconsistent", "EKF attitude is bad",
                    "AHRS: waiting for home"] + fence
        if t < GYRO_PHASE_S:
            return ["Accels inconsistent", "AHRS: waiting for home"] + fence
        if t < ORIGIN_S:
            return ["Gyros inconsistent", "AHRS: waiting for home"] + fence
        if t < GYRO_DONE_S:
            return ["Gyros inconsistent", "Need Position Estimate"]
        if t < EKF_GPS_S:
            return ["Need Position Estimate"]
        return []
