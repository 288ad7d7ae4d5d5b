"""ArduCopter facts the agent depends on: flight-mode numbers and version-dependent names.

Mode numbers are ArduCopter's ``Mode::Number`` (HEARTBEAT.custom_mode with
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED). Parameter names that changed between releases are listed as
alternatives; the agent reads which one the vehicle has and never assumes (4.8 has ``WP_SPD``
where older releases have ``WPNAV_SPEED`` in cm/s).
"""

from __future__ import annotations

from dataclasses import dataclass

COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "ACRO": 1,
    "ALT_HOLD": 2,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "CIRCLE": 7,
    "LAND": 9,
    "DRIFT": 11,
    "SPORT": 13,
    "FLIP": 14,
    "AUTOTUNE": 15,
    "POSHOLD": 16,
    "BRAKE": 17,
    "THROW": 18,
    "AVOID_ADSB": 19,
    "GUIDED_NOGPS": 20,
    "SMART_RTL": 21,
    "FLOWHOLD": 22,
    "FOLLOW": 23,
    "ZIGZAG": 24,
    "SYSTEMID": 25,
    "AUTOROTATE": 26,
    "AUTO_RTL": 27,
    "TURTLE": 28,
}
COPTER_MODE_NAMES: dict[int, str] = {number: name for name, number in COPTER_MODES.items()}


def mode_name(custom_mode: int) -> str:
    return COPTER_MODE_NAMES.get(custom_mode, f"MODE{custom_mode}")


@dataclass(frozen=True, slots=True)
class ParamAlias:
    """A quantity whose parameter name (and unit scale) differs by firmware version."""

    quantity: str
    names: tuple[tuple[str, float], ...]  # (parameter name, value per SI unit), newest first


WAYPOINT_SPEED = ParamAlias("waypoint speed m/s", (("WP_SPD", 1.0), ("WPNAV_SPEED", 100.0)))
WAYPOINT_ACCEL = ParamAlias("waypoint acceleration m/s²", (("WP_ACC", 1.0), ("WPNAV_ACCEL", 100.0)))
RTL_ALTITUDE = ParamAlias("RTL altitude m", (("RTL_ALT_M", 1.0), ("RTL_ALT", 100.0)))
