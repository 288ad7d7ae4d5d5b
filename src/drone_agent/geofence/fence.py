"""The compiled fence: zones in the local metric frame, indexed, and the per-update check.

Theory of operation
-------------------
``compile_fence`` converts every zone once into the local frame centred on home (see geo.py) and
builds two geometries per constraint: the *legal* boundary (the zone as drawn; circles as a
covering 64-gon) and the *effective* boundary, which includes the safety margin (operation area
shrunk by ``horizontal_margin_m``, no-fly zones grown by it with mitred corners, bands widened by
``vertical_margin_m``, ceiling lowered by it, VLOS circle shrunk by it). No-fly and privacy zones
go into shapely STRtrees, so a check costs a few index queries however many zones there are: the
nearest no-fly zone comes from growing ``dwithin`` queries (100, 400, 1600 m) and then the tree's
nearest-neighbour search; the time to breach from one query with the velocity ray, which is cut
short at the earliest breach already found (ceiling, VLOS, area exit). The hot path talks to
shapely's compiled core directly (index.py) and handles small outlines in plain Python (planar.py).
Inside a zone the margin is minus the shortest way out (sideways, or up/down for a banded zone).
A non-finite state fails closed (not inside, must stop).

``Fence.check(state)`` answers, for one position + velocity:

* ``inside``: the position is lawful (legal boundaries); ``violations`` lists what is not;
* ``horizontal_margin_m`` / ``vertical_margin_m``: signed distance to the nearest *effective*
  boundary (positive = room left before the safety margin is entered), ``nearest_zone``/``kind``;
* ``time_to_breach_s``: when, at constant velocity, the aircraft enters an effective boundary
  (3-D: an altitude-banded zone is entered only when the horizontal and vertical intervals
  overlap), ``None`` if not within ``breach_horizon_s``;
* the stopping model: reaction latency ``r`` then constant deceleration ``a``:
  ``stopping_distance_m = v*r + v^2/(2a)``, ``stopping_time_s = r + v/a``; ``must_stop`` is true
  when the stop point along the current velocity reaches the effective boundary (``t_breach <=
  r + v/(2a)``) or the aircraft is already inside the margin.

No-fly zones with a permission valid at ``now_utc`` are left out (enterable) and listed in
``enterable``; ``permission_expires_utc`` says when the fence must be recompiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from drone_agent.errors import InputError, NotPermitted
from drone_agent.geofence.geo import GeoPoint, LocalFrame
from drone_agent.geofence.index import ALLOW_NAN, ZoneIndex, lib
from drone_agent.geofence.limits import Limits
from drone_agent.geofence.operation import Operation, check_zones_plausible
from drone_agent.geofence.planar import (
    boundary_segments,
    convex_halfplanes,
    exit_convex,
    first_crossing,
    inside_convex,
)
from drone_agent.geofence.zones import Zone

if TYPE_CHECKING:
    from drone_agent.geofence.controller import ControllerFencePlan
    from drone_agent.geofence.terrain import GroundProfile

CIRCLE_QUAD_SEGS = 16  # 64-gon for circles
_CIRCUMSCRIBE = 1.0 / math.cos(math.pi / (4 * CIRCLE_QUAD_SEGS))
_EPS = 1e-9
_NEAR_M = (100.0, 400.0, 1600.0)  # cheap search radii for the nearest no-fly zone, tried in turn


@dataclass(frozen=True, slots=True)
class KinematicState:
    """Position in the fence's local frame, height above ground, velocity (east, north, up)."""

    east_m: float
    north_m: float
    alt_agl_m: float
    vel_east_mps: float = 0.0
    vel_north_mps: float = 0.0
    vel_up_mps: float = 0.0

    def advanced(self, dt_s: float) -> KinematicState:
        """The state after ``dt_s`` seconds at constant velocity."""
        return KinematicState(
            self.east_m + self.vel_east_mps * dt_s,
            self.north_m + self.vel_north_mps * dt_s,
            self.alt_agl_m + self.vel_up_mps * dt_s,
            self.vel_east_mps,
            self.vel_north_mps,
            self.vel_up_mps,
        )


@dataclass(frozen=True, slots=True)
class FenceCheck:
    """The answer for one state (see the module docstring). Margins are signed metres to the
    effective boundary (negative = inside the safety margin or beyond); ``nearest_*`` name the
    constraint with the smallest horizontal margin, ``nearest_vertical`` the one with the smallest
    vertical margin; ``breach_*`` the constraint that ``time_to_breach_s`` refers to (kinds:
    operation_area, no_fly, vlos, ceiling, vertical)."""

    inside: bool
    violations: tuple[str, ...]
    nearest_zone: str
    nearest_kind: str
    horizontal_margin_m: float
    vertical_margin_m: float
    time_to_breach_s: float | None
    stopping_distance_m: float
    stopping_time_s: float
    must_stop: bool
    in_margin: bool
    breach_zone: str | None
    breach_kind: str | None
    nearest_vertical: str
    distance_from_pilot_m: float


@dataclass(frozen=True, slots=True)
class LocalZone:
    """A zone in the local frame: legal and effective (margin-included) geometry and bands."""

    zone: Zone
    legal: BaseGeometry
    effective: BaseGeometry
    floor_m: float  # legal band, -inf / +inf when open
    ceiling_m: float
    floor_eff_m: float
    ceiling_eff_m: float


def circle_polygon(center: tuple[float, float], radius_m: float, covering: bool) -> Polygon:
    """A 64-gon for a circle: ``covering`` -> circumscribed (contains the circle), else inscribed."""
    return Point(center).buffer(radius_m * (_CIRCUMSCRIBE if covering else 1.0), quad_segs=CIRCLE_QUAD_SEGS)


def _local_geometries(zones: list[Zone], frame: LocalFrame, covering: bool, grow_m: float) -> list[BaseGeometry]:
    """Zone geometries in local metres, grown (or shrunk, negative ``grow_m``), in one vectorised
    pass: circles become 64-gons (``covering``: circumscribed, else inscribed), polygons are
    offset with mitred corners (exact at convex corners when shrinking, slightly more than the
    margin at convex corners when growing -- on the safe side either way)."""
    out: list[BaseGeometry] = [Polygon()] * len(zones)
    circles = [k for k, z in enumerate(zones) if z.radius_m is not None]
    polygons = [k for k, z in enumerate(zones) if z.radius_m is None]
    if circles:
        centres = frame.lonlat_to_local_array(np.array([(zones[k].geometry.x, zones[k].geometry.y) for k in circles]))
        radii = np.array([zones[k].radius_m + grow_m for k in circles]) * (_CIRCUMSCRIBE if covering else 1.0)
        discs = shapely.buffer(shapely.points(centres), np.maximum(radii, 0.0), quad_segs=CIRCLE_QUAD_SEGS)
        for k, disc in zip(circles, discs, strict=True):
            out[k] = disc
    if polygons:
        local = shapely.transform(np.array([zones[k].geometry for k in polygons], dtype=object),
                                  frame.lonlat_to_local_array)
        if grow_m:
            local = shapely.buffer(local, grow_m, join_style="mitre")
        for k, geom in zip(polygons, local, strict=True):
            out[k] = geom
    return out


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if geom.is_empty:
        return []
    return list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]


class Fence:
    """A compiled, indexed fence (see module docstring). Build it with :func:`compile_fence`."""

    def __init__(self, operation: Operation, home: GeoPoint, now_utc: datetime) -> None:
        self.operation = operation
        self.limits: Limits = operation.limits
        self.home = home
        self.compiled_utc = now_utc
        self.frame = LocalFrame(home)
        self.pilot = operation.pilot or home
        self.pilot_local = self.frame.to_local(self.pilot.lat_deg, self.pilot.lon_deg)
        hm, vm = self.limits.horizontal_margin_m, self.limits.vertical_margin_m
        self.notes: list[str] = []
        self.refusals: list[str] = []

        areas = operation.zones_of("operation_area")
        self.area_local: BaseGeometry = shapely.union_all(_local_geometries(list(areas), self.frame, False, 0.0))
        effective = shapely.union_all(_local_geometries(list(areas), self.frame, False, -hm))
        if effective.is_empty:
            self.refusals.append(f"the operation area is too small for the {hm:g} m safety margin")
            effective = self.area_local
        self.area_effective: BaseGeometry = effective
        self._area_names = ", ".join(z.name for z in areas)
        self._area_boundary = effective.boundary
        self._area_segments = boundary_segments(effective)
        self._area_halfplanes = convex_halfplanes(effective)
        self._vlos_radius_m = self.limits.vlos_max_m - hm
        shapely.prepare(self.area_local)
        shapely.prepare(self.area_effective)
        shapely.prepare(self._area_boundary)

        self.enterable: tuple[Zone, ...] = ()
        self.permission_expires_utc: datetime | None = None
        active: list[Zone] = []
        for zone in operation.zones_of("no_fly"):
            permission = zone.permission
            if permission is not None and permission.valid_at(now_utc):
                self.enterable += (zone,)
                expiry = permission.valid_until_utc
                if self.permission_expires_utc is None or expiry < self.permission_expires_utc:
                    self.permission_expires_utc = expiry
                self.notes.append(
                    f"no-fly zone '{zone.name}' is enterable until {expiry.isoformat()} "
                    f"(permission {permission.reference} from {permission.granted_by})"
                )
            else:
                if permission is not None:
                    self.notes.append(
                        f"permission {permission.reference} for '{zone.name}' is not valid now "
                        f"({permission.valid_from_utc.isoformat()} .. {permission.valid_until_utc.isoformat()})"
                    )
                active.append(zone)
        self.no_fly: tuple[LocalZone, ...] = self._local_zones(active, hm, vm)
        self.privacy: tuple[LocalZone, ...] = self._local_zones(list(operation.zones_of("privacy")), 0.0, 0.0)

        self._nf_tree = ZoneIndex([z.effective for z in self.no_fly])
        self._nf_effective = np.array([z.effective for z in self.no_fly], dtype=object)
        self._nf_floor_eff = np.array([z.floor_eff_m for z in self.no_fly])
        self._nf_ceiling_eff = np.array([z.ceiling_eff_m for z in self.no_fly])
        self._nf_full_column = [z.floor_eff_m <= 0.0 and z.ceiling_eff_m == math.inf for z in self.no_fly]
        self._nf_segments: dict[int, tuple] = {}
        for z in self.no_fly:
            shapely.prepare(z.legal)
            shapely.prepare(z.effective)
        self._pv_tree = ZoneIndex([z.legal for z in self.privacy])
        self._assess_home()

    def _local_zones(self, zones: list[Zone], hm: float, vm: float) -> tuple[LocalZone, ...]:
        legal = _local_geometries(zones, self.frame, True, 0.0)
        effective = _local_geometries(zones, self.frame, True, hm) if hm else legal
        out = []
        for zone, legal_geom, effective_geom in zip(zones, legal, effective, strict=True):
            floor = zone.floor_m if zone.floor_m else -math.inf
            ceiling = zone.ceiling_m if zone.ceiling_m is not None else math.inf
            out.append(LocalZone(zone, legal_geom, effective_geom, floor, ceiling, floor - vm, ceiling + vm))
        return tuple(out)

    def _assess_home(self) -> None:
        if not shapely.contains_xy(self.area_local, 0.0, 0.0):
            self.refusals.append(f"home is outside the operation area {self._area_names}")
        elif not shapely.contains_xy(self.area_effective, 0.0, 0.0):
            self.notes.append("home is within the safety margin of the operation area boundary")
        for z in self.no_fly:
            if z.floor_m <= 0.0 and shapely.contains_xy(z.legal, 0.0, 0.0):
                self.refusals.append(f"home is inside no-fly zone '{z.zone.name}' without valid permission")
        pilot_m = math.hypot(*self.pilot_local)
        if pilot_m > self.limits.vlos_max_m - self.limits.horizontal_margin_m:
            self.refusals.append(
                f"home is {pilot_m:.0f} m from the pilot, beyond the VLOS limit "
                f"{self.limits.vlos_max_m:g} m less the {self.limits.horizontal_margin_m:g} m margin"
            )

    # ------------------------------------------------------------------------------------------
    @property
    def permitted(self) -> bool:
        return not self.refusals

    def area_lonlat(self) -> BaseGeometry:
        """The operation area in lon/lat degrees (e.g. for :func:`~.terrain.ground_profile`)."""
        return self.frame.geometry_to_lonlat(self.area_local)

    def expired(self, now_utc: datetime) -> bool:
        """True once a permission this fence relies on has ended: recompile before going on."""
        return self.permission_expires_utc is not None and now_utc >= self.permission_expires_utc

    def privacy_zones_local(self) -> tuple[tuple[str, Polygon, float, float], ...]:
        """(name, polygon in local metres, floor_m, ceiling_m) per privacy polygon; circles are
        covering 64-gons; bands open below/above are 0 / inf."""
        return tuple(
            (z.zone.name, p, max(z.floor_m, 0.0), z.ceiling_m) for z in self.privacy for p in _polygons(z.legal)
        )

    def no_fly_zones_local(self) -> tuple[tuple[str, Polygon, float, float], ...]:
        """The active no-fly zones like :meth:`privacy_zones_local` (legal geometry, no margin)."""
        return tuple(
            (z.zone.name, p, max(z.floor_m, 0.0), z.ceiling_m) for z in self.no_fly for p in _polygons(z.legal)
        )

    def distance_to_nearest_no_fly_m(self, east_m: float = 0.0, north_m: float = 0.0) -> tuple[str, float] | None:
        """(zone name, horizontal distance to its legal boundary); None when there is none."""
        if not self.no_fly:
            return None
        legal = [z.legal for z in self.no_fly]
        distances = shapely.distance(np.array(legal, dtype=object), Point(east_m, north_m))
        i = int(np.argmin(distances))
        return self.no_fly[i].zone.name, float(distances[i])

    def controller_plan(self, ground: GroundProfile | None = None, max_points: int = 70) -> ControllerFencePlan:
        """The fence items and FENCE_*/AVOID_* parameters for the flight controller."""
        from drone_agent.geofence.controller import plan_controller_fence

        return plan_controller_fence(self, ground, max_points)

    # ------------------------------------------------------------------------------------------
    def check(self, state: KinematicState) -> FenceCheck:
        """Lawfulness, margins and time to breach for one position + velocity (see module doc)."""
        limits = self.limits
        x, y, z = state.east_m, state.north_m, state.alt_agl_m
        if not math.isfinite(x + y + z + state.vel_east_mps + state.vel_north_mps + state.vel_up_mps):
            return self._unknown_state(state)
        point = lib.points(np.array((x, y)), ALLOW_NAN)

        # Horizontal margins: operation area, VLOS circle, no-fly columns (in band).
        area_d = inside_convex(self._area_halfplanes, x, y) if self._area_halfplanes else -1.0
        if area_d < 0.0:  # not known to be inside: ask GEOS
            area_d = float(lib.distance(self._area_boundary, point))
            if not lib.contains_xy(self.area_effective, x, y):
                area_d = -area_d
        h_margin, h_zone, h_kind = area_d, self._area_names, "operation_area"
        pilot_d = math.hypot(x - self.pilot_local[0], y - self.pilot_local[1])
        vlos_margin = self._vlos_radius_m - pilot_d
        if vlos_margin < h_margin:
            h_margin, h_zone, h_kind = vlos_margin, "VLOS from pilot", "vlos"
        v_margin, v_zone = limits.max_height_agl_m - limits.vertical_margin_m - z, "height ceiling"
        containing: np.ndarray | tuple = ()
        nf_d = h_margin  # lower bound: zones further than the current margin are not looked at
        if self.no_fly and h_margin > 0.0:
            # Growing dwithin queries settle most checks; the R-tree's nearest search the rest.
            for radius in _NEAR_M:
                near = self._nf_tree.within(point, min(h_margin, radius))
                if len(near) or radius >= h_margin:
                    break
            if len(near):
                distances = lib.distance(self._nf_effective[near], point)
            else:
                near, distances = self._nf_tree.nearest(point, h_margin)
            if len(near):
                k = 0 if len(near) == 1 else int(np.argmin(distances))
                nf_d = float(distances[k])
                if nf_d > 0.0:
                    if nf_d < h_margin:
                        h_margin, h_zone, h_kind = nf_d, self.no_fly[int(near[k])].zone.name, "no_fly"
                else:  # inside at least one (effective) column: in band, or flying over/under it
                    containing = near[distances == 0.0]
                    h_margin, h_zone, h_kind, v_margin, v_zone = self._inside_columns(
                        point, z, near, distances, h_margin, h_zone, h_kind, v_margin, v_zone
                    )
        elif self.no_fly:  # already outside the area / VLOS margin: still report no-fly incursions
            containing = self._nf_tree.intersecting(point)
            if len(containing):
                distances = np.zeros(len(containing))
                h_margin, h_zone, h_kind, v_margin, v_zone = self._inside_columns(
                    point, z, containing, distances, h_margin, h_zone, h_kind, v_margin, v_zone
                )

        in_margin = h_margin < 0 or v_margin < 0
        violations = self._violations(x, y, z, pilot_d, containing) if in_margin else ()
        vx, vy, vz = state.vel_east_mps, state.vel_north_mps, state.vel_up_mps
        speed = math.sqrt(vx * vx + vy * vy + vz * vz)
        stop_d = speed * limits.reaction_latency_s + speed * speed / (2 * limits.braking_decel_mps2)
        stop_t = limits.reaction_latency_s + speed / limits.braking_decel_mps2
        if in_margin:
            breach = (0.0, h_zone, h_kind) if h_margin < 0 else (0.0, v_zone, "vertical")
        elif speed > _EPS:
            breach = self._time_to_breach(state, area_d, nf_d, containing)
        else:
            breach = None
        t_breach = breach[0] if breach else None
        return FenceCheck(
            inside=not violations,
            violations=violations,
            nearest_zone=h_zone,
            nearest_kind=h_kind,
            horizontal_margin_m=h_margin,
            vertical_margin_m=v_margin,
            time_to_breach_s=t_breach,
            stopping_distance_m=stop_d,
            stopping_time_s=stop_t,
            must_stop=in_margin or (t_breach is not None and t_breach * speed <= stop_d + _EPS),
            in_margin=in_margin,
            breach_zone=breach[1] if breach else None,
            breach_kind=breach[2] if breach else None,
            nearest_vertical=v_zone,
            distance_from_pilot_m=pilot_d,
        )

    def _unknown_state(self, state: KinematicState) -> FenceCheck:
        """Fail closed on a NaN/infinite state: not lawful, stop now."""
        return FenceCheck(
            inside=False,
            violations=(f"state not finite: {state}",),
            nearest_zone="unknown position",
            nearest_kind="unknown",
            horizontal_margin_m=-math.inf,
            vertical_margin_m=-math.inf,
            time_to_breach_s=0.0,
            stopping_distance_m=math.inf,
            stopping_time_s=math.inf,
            must_stop=True,
            in_margin=True,
            breach_zone="unknown position",
            breach_kind="unknown",
            nearest_vertical="unknown position",
            distance_from_pilot_m=math.nan,
        )

    def privacy_zones_at(self, state: KinematicState) -> tuple[str, ...]:
        """Names of the privacy zones whose column (and band) contains the aircraft."""
        if not self.privacy:
            return ()
        z = state.alt_agl_m
        hits = self._pv_tree.intersecting(Point(state.east_m, state.north_m))
        return tuple(
            self.privacy[i].zone.name for i in hits if self.privacy[i].floor_m <= z <= self.privacy[i].ceiling_m
        )

    def _inside_columns(self, point, z, near, distances, h_margin, h_zone, h_kind, v_margin, v_zone):
        """Margins when the position is inside one or more effective no-fly columns. Inside a zone
        (column and band) the margin is minus the shortest way out: sideways (horizontal) or up/down
        (vertical, for banded zones); over or under a band it is the vertical gap. The other
        nearby columns still count horizontally."""
        for i, d in zip(near, distances, strict=True):
            i, d = int(i), float(d)
            floor, ceiling = self._nf_floor_eff[i], self._nf_ceiling_eff[i]
            if d > 0.0:
                if d < h_margin:
                    h_margin, h_zone, h_kind = d, self.no_fly[i].zone.name, "no_fly"
            elif floor <= z <= ceiling:  # inside: the shorter way out (sideways or up/down) counts
                depth_h = float(shapely.distance(self.no_fly[i].effective.boundary, point))
                depth_v = min(z - floor, ceiling - z)
                if depth_v < depth_h:
                    if -depth_v < v_margin:
                        v_margin, v_zone = -depth_v, self.no_fly[i].zone.name
                elif -depth_h < h_margin:
                    h_margin, h_zone, h_kind = -depth_h, self.no_fly[i].zone.name, "no_fly"
            else:
                gap = z - ceiling if z > ceiling else floor - z
                if gap < v_margin:
                    v_margin, v_zone = gap, self.no_fly[i].zone.name
        return h_margin, h_zone, h_kind, v_margin, v_zone

    def _farther_columns(self, point, seen, h_margin, h_zone, h_kind):
        """After flying over/under a band, columns beyond the first search radius may still be
        nearer than the margin found so far."""
        if h_margin <= _NEAR_M[0]:
            return h_margin, h_zone, h_kind
        for i in self._nf_tree.within(point, h_margin):
            if i in seen:
                continue
            d = float(shapely.distance(self.no_fly[int(i)].effective, point))
            if d < h_margin:
                h_margin, h_zone, h_kind = d, self.no_fly[int(i)].zone.name, "no_fly"
        return h_margin, h_zone, h_kind

    def _violations(self, x: float, y: float, z: float, pilot_d: float, containing) -> tuple[str, ...]:
        """What is unlawful (legal boundaries, no margin) at this position."""
        limits = self.limits
        found: list[str] = []
        if not shapely.contains_xy(self.area_local, x, y):
            found.append(f"outside the operation area {self._area_names}")
        for i in containing:
            zone = self.no_fly[i]
            if zone.floor_m <= z <= zone.ceiling_m and shapely.contains_xy(zone.legal, x, y):
                found.append(f"inside no-fly zone '{zone.zone.name}'")
        if z > limits.max_height_agl_m:
            found.append(f"height {z:.1f} m above the {limits.max_height_agl_m:g} m ceiling")
        if pilot_d > limits.vlos_max_m:
            found.append(f"{pilot_d:.0f} m from the pilot, beyond VLOS {limits.vlos_max_m:g} m")
        return tuple(found)

    def _time_to_breach(self, s: KinematicState, area_d: float, nf_d: float, containing) -> tuple[float, str, str] | None:
        """Earliest entry into any effective boundary at constant velocity, within the horizon."""
        limits = self.limits
        horizon = limits.breach_horizon_s
        best: list = [math.inf, "", ""]

        def consider(t: float, zone: str, kind: str) -> None:
            if 0.0 <= t < best[0]:
                best[0], best[1], best[2] = t, zone, kind

        x, y, z = s.east_m, s.north_m, s.alt_agl_m
        vx, vy, vz = s.vel_east_mps, s.vel_north_mps, s.vel_up_mps
        if vz > 0:
            consider((limits.max_height_agl_m - limits.vertical_margin_m - z) / vz, "height ceiling", "ceiling")
        vh2 = vx * vx + vy * vy
        if vh2 > _EPS * _EPS:
            reach = math.sqrt(vh2) * horizon
            # VLOS circle (we are inside it): positive root of |p - c + v t| = R.
            dx, dy = x - self.pilot_local[0], y - self.pilot_local[1]
            b = dx * vx + dy * vy
            disc = b * b - vh2 * (dx * dx + dy * dy - self._vlos_radius_m**2)
            if disc >= 0:
                consider((-b + math.sqrt(disc)) / vh2, "VLOS from pilot", "vlos")
            if area_d <= reach:
                if self._area_halfplanes:
                    t_exit = exit_convex(self._area_halfplanes, x, y, vx, vy)
                else:
                    t_exit = first_crossing(x, y, vx, vy, self._area_segments)
                if t_exit is not None:
                    consider(t_exit, self._area_names, "operation_area")
            # Only entries earlier than the best found so far matter: shorten the ray to it.
            until = min(horizon, best[0])
            if nf_d <= math.sqrt(vh2) * until:
                ray = lib.linestrings(np.array(((x, y), (x + vx * until, y + vy * until))), ALLOW_NAN)
                for i in self._nf_tree.intersecting(ray):
                    self._zone_entry(consider, int(i), s, ray)
        else:
            for i in containing:
                self._band_entry(consider, int(i), s, 0.0, math.inf)
        return (best[0], best[1], best[2]) if best[0] <= horizon else None

    def _zone_entry(self, consider, i: int, s: KinematicState, ray: LineString) -> None:
        zone = self.no_fly[i]
        if self._nf_full_column[i]:
            t = first_crossing(s.east_m, s.north_m, s.vel_east_mps, s.vel_north_mps, self._segments(i))
            if t is not None:
                consider(t, zone.zone.name, "no_fly")
            return
        vh = math.hypot(s.vel_east_mps, s.vel_north_mps)
        pieces = shapely.intersection(ray, zone.effective)
        for part in shapely.get_parts(pieces):
            coords = shapely.get_coordinates(part)
            if len(coords):
                t = np.hypot(coords[:, 0] - s.east_m, coords[:, 1] - s.north_m) / vh
                self._band_entry(consider, i, s, float(t.min()), float(t.max()))

    def _band_entry(self, consider, i: int, s: KinematicState, t_in: float, t_out: float) -> None:
        """Earliest time within [t_in, t_out] at which the height is inside zone i's effective band."""
        floor, ceiling = self._nf_floor_eff[i], self._nf_ceiling_eff[i]
        if s.vel_up_mps == 0:
            if floor <= s.alt_agl_m <= ceiling:
                consider(t_in, self.no_fly[i].zone.name, "no_fly")
            return
        ta, tb = (floor - s.alt_agl_m) / s.vel_up_mps, (ceiling - s.alt_agl_m) / s.vel_up_mps
        lo, hi = max(t_in, min(ta, tb)), min(t_out, max(ta, tb))
        if lo <= hi:
            consider(lo, self.no_fly[i].zone.name, "no_fly")

    def _segments(self, i: int) -> tuple:
        found = self._nf_segments.get(i)
        if found is None:
            found = self._nf_segments[i] = boundary_segments(self.no_fly[i].effective)
        return found


def compile_fence(
    operation: Operation, home: GeoPoint | None = None, *, now_utc: datetime, strict: bool = True
) -> Fence:
    """Compile ``operation`` around ``home`` (default: the profile's home) at ``now_utc``.

    Raises InputError for a missing home or implausible zones, and (when ``strict``) NotPermitted
    listing every reason the flight is not permitted. With ``strict=False`` the reasons are left in
    ``fence.refusals`` (``drone-agent check`` prints them after its summary).
    """
    home = home or operation.home
    if home is None:
        raise InputError(
            f"{operation.source}: no home position", "give --home LAT,LON or [operation] home in the profile"
        )
    if now_utc.tzinfo is None:
        raise InputError("now_utc has no time zone", "pass an aware UTC datetime")
    check_zones_plausible(operation.zones, home)
    fence = Fence(operation, home, now_utc)
    if strict and fence.refusals:
        raise NotPermitted("; ".join(fence.refusals), "fix the profile or the launch position, then run check again")
    return fence


