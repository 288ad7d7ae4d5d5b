"""Local north/east metres around a fixed origin, the way ArduPilot's ``Location`` does it.

ArduPilot converts between latitude/longitude and metres with a flat-earth approximation:
``LOCATION_SCALING_FACTOR`` metres per 1e-7 degree of latitude, and the same scaled by the cosine of
the latitude for longitude (``Location::get_distance_NE`` / ``offset``). The simulator uses exactly
that, written here independently of any other part of drone-agent, so fence distances agree with
the autopilot's own to the centimetre over the few kilometres a police flight covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LOCATION_SCALING_FACTOR_M = 0.011131884502145034  # metres per 1e-7 degree of latitude
_M_PER_DEG = LOCATION_SCALING_FACTOR_M * 1e7


@dataclass(frozen=True, slots=True)
class Origin:
    """The point local coordinates are measured from (home / EKF origin)."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float

    @property
    def lon_scale(self) -> float:
        return max(math.cos(math.radians(self.lat_deg)), 0.01)

    def to_ne(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """(north_m, east_m) of a point."""
        north_m = (lat_deg - self.lat_deg) * _M_PER_DEG
        east_m = (lon_deg - self.lon_deg) * _M_PER_DEG * self.lon_scale
        return north_m, east_m

    def to_geo(self, north_m: float, east_m: float) -> tuple[float, float]:
        """(lat_deg, lon_deg) of a local point."""
        lat_deg = self.lat_deg + north_m / _M_PER_DEG
        lon_deg = self.lon_deg + east_m / (_M_PER_DEG * self.lon_scale)
        return lat_deg, lon_deg
