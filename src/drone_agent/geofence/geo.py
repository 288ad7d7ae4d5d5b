"""Geographic points and the local metric frame every fence computation runs in.

Theory of operation: all geometry is converted once, at compile time, from WGS84 longitude/latitude
into a local *azimuthal equidistant* projection centred on the aircraft's home (pyproj/PROJ
``+proj=aeqd`` on the WGS84 ellipsoid). Distances and azimuths from home are exact in that
projection; for any two points within 10 km of home the scale error stays below 1e-5 (under a
centimetre per kilometre), so metre-based rules (margins, radii, stopping distances) can be applied
with plain planar geometry. The round trip geographic -> local -> geographic is exact to ~1e-13 deg.
Axes: x = east_m, y = north_m, origin = home.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from drone_agent.errors import InputError


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 position; ``alt_amsl_m`` (height above mean sea level) is optional."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float | None = None

    def __post_init__(self) -> None:
        for label, value, bound in (("latitude", self.lat_deg, 90.0), ("longitude", self.lon_deg, 180.0)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InputError(f"{label} {value!r} is not a number", "give decimal degrees")
            if abs(value) > bound:
                raise InputError(
                    f"{label} {value} is outside -{bound:g}..{bound:g}",
                    "give decimal degrees; latitude comes first in LAT,LON",
                )
        if self.alt_amsl_m is not None and not math.isfinite(self.alt_amsl_m):
            raise InputError(f"altitude {self.alt_amsl_m!r} is not a number", "give metres AMSL")

    @classmethod
    def parse(cls, text: str, what: str = "position") -> GeoPoint:
        """Parse ``"LAT,LON"`` or ``"LAT,LON,ALT_AMSL_M"`` (as typed on a command line)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise InputError(f"{what} {text!r} is not LAT,LON", "write e.g. 51.2705,0.5227 (latitude first)")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{what} {text!r} is not LAT,LON numbers", "write e.g. 51.2705,0.5227") from None
        return cls(values[0], values[1], values[2] if len(values) == 3 else None)


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres (mean Earth radius); for plausibility checks, not fencing."""
    p1, p2 = math.radians(a.lat_deg), math.radians(b.lat_deg)
    dp, dl = p2 - p1, math.radians(b.lon_deg - a.lon_deg)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Azimuthal equidistant frame centred on ``origin``: (lat, lon) <-> (east_m, north_m)."""

    origin: GeoPoint
    _fwd: Transformer = field(init=False, repr=False, compare=False)
    _inv: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crs = CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.origin.lat_deg!r} +lon_0={self.origin.lon_deg!r} "
            "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
        )
        object.__setattr__(self, "_fwd", Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        object.__setattr__(self, "_inv", Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    def to_local(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        east_m, north_m = self._fwd.transform(lon_deg, lat_deg)
        return float(east_m), float(north_m)

    def to_geo(self, east_m: float, north_m: float) -> tuple[float, float]:
        """Return ``(lat_deg, lon_deg)``."""
        lon_deg, lat_deg = self._inv.transform(east_m, north_m)
        return float(lat_deg), float(lon_deg)

    def lonlat_to_local_array(self, lonlat: np.ndarray) -> np.ndarray:
        """(N, 2) array of lon, lat degrees -> (N, 2) array of east, north metres."""
        east, north = self._fwd.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([east, north])

    def local_to_lonlat_array(self, en: np.ndarray) -> np.ndarray:
        lon, lat = self._inv.transform(en[:, 0], en[:, 1])
        return np.column_stack([lon, lat])

    def geometry_to_local(self, geom_lonlat: BaseGeometry) -> BaseGeometry:
        """A shapely geometry in lon/lat degrees -> the same geometry in local metres."""
        return shapely.transform(geom_lonlat, self.lonlat_to_local_array)

    def geometry_to_lonlat(self, geom_local: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom_local, self.local_to_lonlat_array)
