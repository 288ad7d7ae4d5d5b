"""Zone builders for the two UK restrictions defined by rule rather than drawn.

* Aerodrome flight restriction zone (ANO 2016 art. 94B, art. 5): the ATZ, a circle centred on the
  mid-point of the longest runway with radius 2 nm (3,704 m), or 2.5 nm (4,630 m) when the longest
  runway is longer than 1,850 m; plus a runway protection zone at each threshold: a rectangle
  extending 5 km outward along the extended centreline, 1 km wide (Heathrow: 1.5 km, pass
  ``rpz_width_m``). Vertically the FRZ reaches 2,000 ft above aerodrome level; the built zones are
  left unlimited upwards (safer, and far above any drone ceiling). The CAA publishes the official
  FRZ polygons (including "boundary zone" bumps these rules do not capture): prefer them, and use
  these builders as a cross-check or where the published data is not to hand.
* Prison / young offender institution restricted zone (SI 2023/1101): a 400 m circle.

Builders return :class:`~.zones.Zone` objects (kind ``no_fly``); ``zones_feature_collection``
turns them into GeoJSON that loads back through the normal validating loader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from shapely.geometry import Point, Polygon

from drone_agent.errors import InputError
from drone_agent.geofence.geo import GeoPoint, LocalFrame
from drone_agent.geofence.zones import Zone, zone_to_feature

NM_M = 1852.0
ATZ_RADIUS_SHORT_M = 2.0 * NM_M
ATZ_RADIUS_LONG_M = 2.5 * NM_M
LONG_RUNWAY_M = 1850.0
RPZ_LENGTH_M = 5000.0
RPZ_WIDTH_M = 1000.0
PRISON_RADIUS_M = 400.0
BUILDER_SOURCE = "builder"


def aerodrome_frz(
    name: str,
    runways: Sequence[tuple[GeoPoint, GeoPoint]],
    *,
    centre: GeoPoint | None = None,
    longest_runway_m: float | None = None,
    rpz_width_m: float = RPZ_WIDTH_M,
    rpz_length_m: float = RPZ_LENGTH_M,
) -> tuple[Zone, ...]:
    """The FRZ of an aerodrome from its runway thresholds (each runway = its two thresholds).

    ``centre`` defaults to the mid-point of the longest runway; ``longest_runway_m`` defaults to the
    longest threshold-to-threshold distance (give the published length when thresholds are
    displaced)."""
    if not runways:
        raise InputError(f"FRZ '{name}': no runway given", "pass --runway LAT,LON:LAT,LON (the two thresholds)")
    if rpz_width_m <= 0 or rpz_length_m <= 0:
        raise InputError(f"FRZ '{name}': runway protection zone size must be positive", "use 5000 x 1000 m")
    frame = LocalFrame(runways[0][0])
    ends = [(frame.to_local(a.lat_deg, a.lon_deg), frame.to_local(b.lat_deg, b.lon_deg)) for a, b in runways]
    lengths = [math.dist(a, b) for a, b in ends]
    for (a, b), length in zip(runways, lengths, strict=True):
        if length < 100.0:
            raise InputError(
                f"FRZ '{name}': runway thresholds {a.lat_deg},{a.lon_deg} and {b.lat_deg},{b.lon_deg} "
                f"are only {length:.0f} m apart",
                "give the two different thresholds of each runway (LAT,LON:LAT,LON)",
            )
    longest = max(range(len(ends)), key=lambda i: lengths[i])
    if longest_runway_m is not None and longest_runway_m <= 0:
        raise InputError(f"FRZ '{name}': longest runway length must be positive", "give metres")
    # thresholds give the length to survey precision; compare at 0.1 m so 1850.00001 is not "over 1850"
    runway_m = longest_runway_m if longest_runway_m is not None else round(lengths[longest], 1)
    radius_m = ATZ_RADIUS_LONG_M if runway_m > LONG_RUNWAY_M else ATZ_RADIUS_SHORT_M
    if centre is None:
        (ax, ay), (bx, by) = ends[longest]
        centre = GeoPoint(*frame.to_geo((ax + bx) / 2, (ay + by) / 2))
    zones = [
        Zone(
            name=f"{name} ATZ ({radius_m / NM_M:g} nm)",
            kind="no_fly",
            geometry=Point(centre.lon_deg, centre.lat_deg),
            radius_m=radius_m,
            source_file=BUILDER_SOURCE,
        )
    ]
    for (a, b) in ends:
        for threshold, other in ((a, b), (b, a)):
            zones.append(_rpz(name, frame, threshold, other, rpz_length_m, rpz_width_m, len(zones)))
    return tuple(zones)


def _rpz(name: str, frame: LocalFrame, threshold, other, length_m: float, width_m: float, index: int) -> Zone:
    """Rectangle from ``threshold`` outward (away from ``other``) along the extended centreline."""
    ux, uy = threshold[0] - other[0], threshold[1] - other[1]
    norm = math.hypot(ux, uy)
    ux, uy = ux / norm, uy / norm
    nx, ny = -uy * width_m / 2, ux * width_m / 2
    tx, ty = threshold
    fx, fy = tx + ux * length_m, ty + uy * length_m
    corners = [(tx + nx, ty + ny), (fx + nx, fy + ny), (fx - nx, fy - ny), (tx - nx, ty - ny)]
    lonlat = [(lon, lat) for lat, lon in (frame.to_geo(e, n) for e, n in corners)]
    heading = (math.degrees(math.atan2(ux, uy)) + 360.0) % 360.0
    return Zone(
        name=f"{name} RPZ {heading:03.0f}deg",
        kind="no_fly",
        geometry=Polygon(lonlat + lonlat[:1]),
        source_file=BUILDER_SOURCE,
        feature_index=index,
    )


def prison_zone(name: str, centre: GeoPoint, radius_m: float = PRISON_RADIUS_M) -> Zone:
    """The restricted zone around a prison or YOI (SI 2023/1101): a circle, 400 m by default."""
    if radius_m <= 0:
        raise InputError(f"prison '{name}': radius must be positive", "the regulation uses 400 m")
    return Zone(
        name=name,
        kind="no_fly",
        geometry=Point(centre.lon_deg, centre.lat_deg),
        radius_m=radius_m,
        source_file=BUILDER_SOURCE,
    )


def zones_feature_collection(zones: Sequence[Zone], description: str) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "description": description,
        "features": [zone_to_feature(z) for z in zones],
    }
