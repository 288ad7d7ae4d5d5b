"""The fence the flight controller holds: items within its storage, and FENCE_*/AVOID_* values.

Theory of operation
-------------------
ArduPilot stores inclusion/exclusion polygons and circles as 2-D columns (altitude ignored), about
70 polygon points on many boards. This module turns a compiled :class:`~.fence.Fence` into such a
set, always erring on the safe side:

* inclusion (operation area): every uploaded polygon lies inside the legal area (it may only
  shrink); holes of the area become exclusion polygons;
* exclusion (active no-fly zones touching the area): every uploaded polygon contains the legal
  zone *within the area* (it may only grow; holes are filled; a zone is clipped to the area grown
  by :data:`CLIP_MARGIN_M`, which changes nothing the aircraft can reach inside the inclusion);
* polygons are simplified with one tolerance ``t`` chosen from :data:`TOLERANCES_M` until the
  points fit: grow by ``t`` (mitred and rounded corners tried, the one with fewer points kept)
  then Douglas-Peucker by ``t/2`` (shrink: erode by ``t``), so the simplified outline keeps at
  least ``t/2`` from the legal one, which survives rounding to the 1e-7 degree wire format; every result is re-checked after rounding and replaced by a coarser,
  still-safe shape (oriented envelope / inscribed square) if the check fails;
* circles stay circles (centre + radius, radius rounded outward for exclusions, inward for
  inclusions); they cost :data:`CIRCLE_POINTS` points.

Parameters: FENCE_ALT_MAX is the legal ceiling (metres above the closest surface) converted to
ArduPilot's home-relative altitude using the lowest ground under the area:
``ceiling - (home ground - lowest ground)``. FENCE_MARGIN/AVOID_MARGIN take the profile's
horizontal margin (clamped to ArduPilot's 1..10 m), FENCE_RADIUS the VLOS range when the pilot
stands at home, FENCE_OPTIONS bit 1 (union of inclusions) when the area has separate parts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from drone_agent.geofence.fence import circle_polygon
from drone_agent.geofence.geo import LocalFrame

if TYPE_CHECKING:
    from drone_agent.geofence.fence import Fence
    from drone_agent.geofence.terrain import GroundProfile

TOLERANCES_M = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
CIRCLE_POINTS = 2  # a stored circle (13 bytes) costs less than two polygon points (2 x 8 bytes)
CLIP_MARGIN_M = 25.0
WIRE_SCALE = 1e7  # MISSION_ITEM_INT x/y are degrees * 1e7

INCLUSION_POLYGON = "inclusion_polygon"
EXCLUSION_POLYGON = "exclusion_polygon"
INCLUSION_CIRCLE = "inclusion_circle"
EXCLUSION_CIRCLE = "exclusion_circle"


@dataclass(frozen=True, slots=True)
class FenceItem:
    """One fence item; ``points_deg`` are (lat_deg, lon_deg) already rounded to the wire's 1e-7."""

    kind: str
    points_deg: tuple[tuple[float, float], ...]
    radius_m: float | None = None
    source_zone: str = ""

    @property
    def points(self) -> int:
        return CIRCLE_POINTS if self.radius_m is not None else len(self.points_deg)


@dataclass(frozen=True, slots=True)
class ControllerFencePlan:
    items: tuple[FenceItem, ...]
    params: Mapping[str, float]
    notes: tuple[str, ...]
    points_used: int
    max_points: int
    tolerance_m: float
    complete: bool  # every active no-fly zone touching the area is in ``items``


def round_deg(value: float) -> float:
    return round(value * WIRE_SCALE) / WIRE_SCALE


def item_geometry_local(item: FenceItem, frame: LocalFrame) -> Polygon:
    """The area an item covers in ``frame`` (circles as a covering 64-gon for exclusions, an
    inscribed one for inclusions) -- what the controller will enforce, for checks and tests."""
    en = frame.lonlat_to_local_array(np.array([(lon, lat) for lat, lon in item.points_deg]))
    if item.radius_m is not None:
        return circle_polygon(tuple(en[0]), item.radius_m, item.kind == EXCLUSION_CIRCLE)
    return Polygon(en)


def _rounded(poly: Polygon, frame: LocalFrame) -> tuple[tuple[tuple[float, float], ...], Polygon]:
    coords = np.asarray(poly.exterior.coords)[:-1]
    lonlat = frame.local_to_lonlat_array(coords)
    points = tuple((round_deg(lat), round_deg(lon)) for lon, lat in lonlat)
    back = frame.lonlat_to_local_array(np.array([(lon, lat) for lat, lon in points]))
    return points, Polygon(back)


def _safe(candidate: Polygon, legal: Polygon, grow: bool, frame: LocalFrame):
    if candidate.is_empty or not isinstance(candidate, Polygon) or len(candidate.exterior.coords) < 4:
        return None
    points, back = _rounded(shapely.orient_polygons(Polygon(candidate.exterior)), frame)
    if len(set(points)) < 3 or not back.is_valid:
        return None
    ok = back.covers(legal) if grow else legal.covers(back)
    return (points, back) if ok else None


def _fallback(legal: Polygon, grow: bool, frame: LocalFrame):
    """A 4-point shape that is always safe: oriented envelope (grow) or inscribed square (shrink)."""
    if grow:
        for pad in (0.1, 1.0, 10.0):
            found = _safe(shapely.oriented_envelope(legal).buffer(pad, join_style="mitre"), legal, True, frame)
            if found:
                return found
        return None
    line = shapely.maximum_inscribed_circle(legal)
    (cx, cy), (px, py) = line.coords[0], line.coords[1]
    radius = math.hypot(px - cx, py - cy)
    for factor in (0.95, 0.8, 0.5):
        h = radius * factor / math.sqrt(2)
        found = _safe(Polygon([(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]),
                      legal, False, frame)
        if found:
            return found
    return None


def simplify_conservatively(legal: Polygon, tolerance_m: float, grow: bool, frame: LocalFrame):
    """Simplify the outline of ``legal`` (local metres) so it only grows (exclusion) or only
    shrinks (inclusion), checked after rounding to the wire format. Holes are not part of the
    result: an exclusion's holes are filled (it grows), an inclusion's holes must be uploaded as
    exclusions by the caller. Returns ``(points_deg, polygon_local)`` or None when no safe shape
    exists (an inclusion too thin to hold even a small square)."""
    legal = Polygon(legal.exterior)  # holes: filled for exclusions, uploaded separately for inclusions
    found = []
    for join in ("mitre", "round"):  # mitre keeps rectangles at 4 points; round grows spiky shapes least
        candidate = legal.buffer(tolerance_m if grow else -tolerance_m, quad_segs=4, join_style=join)
        if not grow and isinstance(candidate, MultiPolygon):
            candidate = max(candidate.geoms, key=lambda g: g.area)
        if not candidate.is_empty:
            candidate = candidate.simplify(tolerance_m / 2, preserve_topology=True)
        safe = _safe(candidate, legal, grow, frame)
        if safe:
            found.append(safe)
    if not found:
        return _fallback(legal, grow, frame)
    # fewest points, then the least change of area
    return min(found, key=lambda f: (len(f[0]), abs(f[1].area - legal.area)))


def _parts(geom) -> list[Polygon]:
    return [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]


def plan_controller_fence(fence: Fence, ground: GroundProfile | None, max_points: int) -> ControllerFencePlan:
    frame, limits = fence.frame, fence.limits
    notes: list[str] = []
    area = fence.area_local
    clip = area.buffer(CLIP_MARGIN_M)

    # Circles that stay circles, and polygons to simplify: (kind, legal polygon local, zone name).
    circles: list[FenceItem] = []
    polygons: list[tuple[str, Polygon, str]] = []
    areas = fence.operation.zones_of("operation_area")
    area_parts = _parts(area)
    if len(areas) == 1 and areas[0].radius_m is not None:
        zone = areas[0]
        radius = math.floor(zone.radius_m * 100) / 100 - 0.02
        circles.append(FenceItem(INCLUSION_CIRCLE, ((round_deg(zone.geometry.y), round_deg(zone.geometry.x)),),
                                 radius, zone.name))
    else:
        names = ", ".join(z.name for z in areas)
        for part in area_parts:
            polygons.append((INCLUSION_POLYGON, part, names))
            for hole in part.interiors:
                polygons.append((EXCLUSION_POLYGON, Polygon(hole), f"hole in {names}"))
    if len(area_parts) > 1:
        notes.append("the operation area has separate parts: FENCE_OPTIONS bit 1 (union of inclusions) is set")

    omitted: list[str] = []
    for z in fence.no_fly:
        zone = z.zone
        if not z.legal.intersects(area):
            continue
        if zone.floor_m and zone.floor_m >= limits.max_height_agl_m:
            notes.append(f"'{zone.name}' starts above the height ceiling: not uploaded")
            continue
        if z.floor_m > 0 and shapely.contains_xy(z.legal, 0.0, 0.0):
            omitted.append(zone.name)
            notes.append(f"'{zone.name}' is a banded zone over home: enforced by the agent only")
            continue
        if zone.is_banded:
            notes.append(f"'{zone.name}' (altitude band) is uploaded as a full-height column")
        if zone.radius_m is not None:
            radius = math.ceil(zone.radius_m * 100) / 100 + 0.02
            circles.append(FenceItem(EXCLUSION_CIRCLE, ((round_deg(zone.geometry.y), round_deg(zone.geometry.x)),),
                                     radius, zone.name))
        else:
            for part in _parts(z.legal.intersection(clip)):
                polygons.append((EXCLUSION_POLYGON, part, zone.name))

    budget = max_points - sum(c.points for c in circles)
    for tolerance in TOLERANCES_M:
        chosen, unsafe = _simplify_all(polygons, tolerance, frame)
        if sum(i.points for i in chosen) <= budget:
            break
    for name in unsafe:
        omitted.append(name)
        notes.append(f"part of '{name}' is too thin to upload safely: enforced by the agent only")
    items = [c for c in circles if c.kind == INCLUSION_CIRCLE] + chosen + [c for c in circles if c.kind != INCLUSION_CIRCLE]
    items.sort(key=lambda i: (i.kind.startswith("exclusion"), _distance_from_home(i, frame)))
    kept: list[FenceItem] = []
    used = 0
    for item in items:
        if used + item.points <= max_points:
            kept.append(item)
            used += item.points
        else:
            omitted.append(item.source_zone)
            notes.append(f"'{item.source_zone}' does not fit in {max_points} fence points: agent-only")
    params = _params(fence, ground, bool(any(i.kind.startswith("exclusion") for i in kept)), len(area_parts) > 1, notes)
    return ControllerFencePlan(tuple(kept), params, tuple(notes), used, max_points, tolerance, not omitted)


def _simplify_all(polygons, tolerance: float, frame: LocalFrame) -> tuple[list[FenceItem], list[str]]:
    """Every polygon simplified at one tolerance; also the names of those with no safe shape."""
    items, unsafe = [], []
    for kind, legal, name in polygons:
        found = simplify_conservatively(legal, tolerance, kind == EXCLUSION_POLYGON, frame)
        if found is None:
            unsafe.append(name)
        else:
            items.append(FenceItem(kind, found[0], None, name))
    return items, unsafe


def _distance_from_home(item: FenceItem, frame: LocalFrame) -> float:
    geom = item_geometry_local(item, frame)
    return float(geom.exterior.distance(shapely.Point(0, 0))) if geom.is_valid else math.inf


def _params(fence: Fence, ground: GroundProfile | None, exclusions: bool, union: bool,
            notes: list[str]) -> dict[str, float]:
    limits = fence.limits
    margin = float(min(10.0, max(1.0, limits.horizontal_margin_m)))
    if ground is None:
        drop = 0.0
        notes.append("ground under the area unknown: FENCE_ALT_MAX assumes flat ground at home; "
                     "the agent enforces height above the surface")
    else:
        drop = max(0.0, ground.home_amsl_m - ground.min_amsl_m)
        notes.append(f"lowest ground under the area is {drop:.1f} m below home ({ground.source})")
    alt_max = math.floor((limits.max_height_agl_m - drop) * 10) / 10
    if alt_max < 10.0:
        notes.append(f"FENCE_ALT_MAX would be {alt_max:g} m, below ArduPilot's 10 m minimum; set to 10 m, "
                     "the agent must hold the aircraft lower")
        alt_max = 10.0
    fence_type = 1 | 4
    params = {
        "FENCE_ENABLE": 1.0,
        "FENCE_ACTION": 4.0 if exclusions else 1.0,
        "FENCE_ALT_MAX": float(alt_max),
        "FENCE_MARGIN": margin,
        "FENCE_OPTIONS": 2.0 if union else 0.0,
        "AVOID_ENABLE": 3.0,
        "AVOID_MARGIN": margin,
        "AVOID_BEHAVE": 1.0,
    }
    if fence.operation.pilot is None or fence.pilot_local == (0.0, 0.0):
        fence_type |= 2
        params["FENCE_RADIUS"] = float(math.floor(limits.vlos_max_m))
    else:
        notes.append("the pilot is not at home: VLOS range is enforced by the agent only")
    params["FENCE_TYPE"] = float(fence_type)
    return params

