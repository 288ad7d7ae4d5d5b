"""ArduCopter parameters the simulator uses, with their real names, defaults and MAV_PARAM_TYPE.

The names and default values were taken from a fresh ArduCopter V4.8.0-dev SITL vehicle (default
copter parameters, ``Tools/autotest/default_params/copter.parm``). Only the subset the simulator
reads, or that a ground station commonly looks at, is embedded; the simulator needs no file at run
time. Values are floats on the wire; integer-typed parameters are rounded when set, like
ArduPilot does.

Theory of operation of :class:`ParamStore`: an ordered name → value table (index order is the
order below, which is alphabetical like ArduPilot's list); ``set`` coerces to the parameter's type
and returns the stored value, unknown names return ``None`` so the vehicle can stay silent as
ArduPilot does for a PARAM_SET of an unknown name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

# MAV_PARAM_TYPE values used below: 2 INT8, 4 INT16, 6 INT32, 9 REAL32.
INTEGER_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 8})

DEFAULTS: Mapping[str, tuple[float, int]] = {
    "ANGLE_MAX": (3000.0, 4),
    "ARMING_ACCTHRESH": (0.75, 9),
    "ARMING_NEED_LOC": (0.0, 2),
    "ARMING_OPTIONS": (0.0, 6),
    "ARMING_SKIPCHK": (0.0, 6),
    "AVOID_ACCEL_MAX": (3.0, 9),
    "AVOID_ALT_MIN": (0.0, 9),
    "AVOID_BACKUP_DZ": (0.10000000149011612, 9),
    "AVOID_BACKUP_SPD": (0.75, 9),
    "AVOID_BACKZ_SPD": (0.75, 9),
    "AVOID_BEHAVE": (0.0, 2),
    "AVOID_DIST_MAX": (5.0, 9),
    "AVOID_ENABLE": (3.0, 2),
    "AVOID_MARGIN": (2.0, 9),
    "CAM1_TYPE": (0.0, 2),
    "DISARM_DELAY": (10.0, 2),
    "FENCE_ACTION": (1.0, 2),
    "FENCE_ALT_MAX": (100.0, 9),
    "FENCE_ALT_MIN": (-10.0, 9),
    "FENCE_AUTOENABLE": (0.0, 2),
    "FENCE_ENABLE": (0.0, 2),
    "FENCE_MARGIN": (2.0, 9),
    "FENCE_MARGIN_XY": (0.0, 9),
    "FENCE_NTF_FREQ": (1.0, 9),
    "FENCE_OPTIONS": (0.0, 4),
    "FENCE_RADIUS": (150.0, 9),
    "FENCE_TOTAL": (0.0, 2),
    "FENCE_TYPE": (7.0, 2),
    "FLTMODE1": (7.0, 2),
    "FLTMODE2": (9.0, 2),
    "FLTMODE3": (6.0, 2),
    "FLTMODE4": (3.0, 2),
    "FLTMODE5": (5.0, 2),
    "FLTMODE6": (0.0, 2),
    "FLTMODE_CH": (5.0, 2),
    "FLTMODE_GCSBLOCK": (0.0, 6),
    "FORMAT_VERSION": (120.0, 4),
    "FRAME_CLASS": (1.0, 2),
    "FRAME_TYPE": (0.0, 2),
    "FS_GCS_ENABLE": (0.0, 2),
    "FS_GCS_TIMEOUT": (5.0, 9),
    "FS_OPTIONS": (16.0, 6),
    "GPS1_TYPE": (1.0, 2),
    "LAND_ALT_LOW_M": (10.0, 9),
    "LAND_REPOSITION": (1.0, 2),
    "LAND_SPD_HIGH_MS": (0.0, 9),
    "LAND_SPD_MS": (0.5, 9),
    "LOIT_ACC_MAX_M": (5.0, 9),
    "LOIT_ANG_MAX": (0.0, 9),
    "LOIT_BRK_ACC_M": (2.5, 9),
    "LOIT_BRK_DELAY": (1.0, 9),
    "LOIT_BRK_JRK_M": (5.0, 9),
    "LOIT_OPTIONS": (1.0, 2),
    "LOIT_SPEED_MS": (12.5, 9),
    "MAV_GCS_SYSID": (255.0, 4),
    "MAV_SYSID": (1.0, 4),
    "MNT1_TYPE": (0.0, 2),
    "PILOT_ACC_Z": (2.5, 9),
    "PILOT_SPD_DN": (0.0, 9),
    "PILOT_SPD_UP": (2.5, 9),
    "PSC_D_POS_P": (1.0, 9),
    "PSC_JERK_D": (5.0, 9),
    "PSC_JERK_NE": (5.0, 9),
    "PSC_NE_POS_P": (1.0, 9),
    "RTL_ALT_FINAL_M": (0.0, 9),
    "RTL_ALT_M": (15.0, 9),
    "RTL_ALT_TYPE": (0.0, 2),
    "RTL_CLIMB_MIN_M": (0.0, 9),
    "RTL_CONE_SLOPE": (3.0, 9),
    "RTL_LOIT_TIME": (5000.0, 6),
    "RTL_OPTIONS": (0.0, 6),
    "RTL_SPEED_MS": (0.0, 9),
    "SIM_GPS1_ENABLE": (1.0, 2),
    "SIM_GPS1_NOISE": (0.0, 9),
    "SIM_GPS1_NUMSATS": (10.0, 2),
    "SIM_SPEEDUP": (1.0, 9),
    "SIM_WIND_DIR": (180.0, 9),
    "SIM_WIND_SPD": (0.0, 9),
    "SIM_WIND_TURB": (0.0, 9),
    "TERRAIN_ENABLE": (1.0, 2),
    "TERRAIN_SPACING": (100.0, 4),
    "TKOFF_SLEW_TIME": (2.0, 9),
    "WP_ACC": (2.5, 9),
    "WP_ACC_CNR": (0.0, 9),
    "WP_ACC_Z": (1.0, 9),
    "WP_JERK": (1.0, 9),
    "WP_NAVALT_MIN": (0.0, 9),
    "WP_RADIUS_M": (2.0, 9),
    "WP_RFND_USE": (1.0, 2),
    "WP_SPD": (10.0, 9),
    "WP_SPD_DN": (1.5, 9),
    "WP_SPD_UP": (2.5, 9),
    "WP_TER_MARGIN": (10.0, 9),
    "WP_YAW_BEHAVIOR": (2.0, 2),
}


class ParamStore:
    """Mutable parameter table of one simulated vehicle."""

    __slots__ = ("_names", "_values", "_types")

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        self._names: list[str] = sorted(DEFAULTS)
        self._values: dict[str, float] = {k: v for k, (v, _) in DEFAULTS.items()}
        self._types: dict[str, int] = {k: t for k, (_, t) in DEFAULTS.items()}
        for name, value in (overrides or {}).items():
            if name not in self._values:
                raise KeyError(name)
            self.set(name, value)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def index(self, name: str) -> int:
        return self._names.index(name)

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None

    def type_of(self, name: str) -> int:
        return self._types[name]

    def set(self, name: str, value: float) -> float | None:
        """Store ``value`` (rounded for integer types); ``None`` if ``name`` is unknown."""
        if name not in self._values:
            return None
        stored = float(round(value)) if self._types[name] in INTEGER_TYPES else float(value)
        self._values[name] = stored
        return stored
