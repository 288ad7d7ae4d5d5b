"""The vehicle's own geofence, modelled on ArduPilot's AC_Fence + AC_PolyFence_loader + AC_Avoid.

Theory of operation
-------------------
* **Storage.** A fence is the list of mission items last accepted with mission_type FENCE, stored the
  way AC_PolyFence_loader does: latitude/longitude as 1e-7 degree integers, a vertex count per
  polygon vertex or a radius per circle, no altitude (read back as 0). :func:`validate_items` applies
  ``AC_PolyFence_loader::validate_fence`` and returns the STATUSTEXTs the autopilot sends when it
  rejects an upload ("Invalid vertex count (2)" then "Fence validation failed").
* **Zones.** Stored items become :class:`Zones` in metres north/east of the EKF origin (home): the
  inclusion/exclusion polygons and circles; FENCE_RADIUS gives the home-centred circle fence;
  FENCE_ALT_MAX/MIN the altitude fences (heights above home).
* **Breach detection.** :meth:`FenceState.check` (called at 25 Hz like Copter's async fence check)
  evaluates the enabled FENCE_TYPE bits: a polygon breach is being inside any exclusion zone or
  outside any inclusion zone (intersection; union with FENCE_OPTIONS bit 1). Only a *new* breach
  asks for an action; after an altitude or circle breach a backup fence 20 m further out re-arms
  the action, and a mode change after a breach starts a 10 s "manual recovery" in which new breaches
  are ignored (AC_FENCE_MANUAL_RECOVERY_TIME_MIN). Each breached fence type counts one breach in
  FENCE_STATUS.breach_count; breach_type reports BOUNDARY over MAXALT over MINALT.
* **Avoidance (approximation, documented).** With AVOID_ENABLE bit 0 (UseFence) set and the fence
  enabled, :func:`limit_velocity` removes from a commanded velocity the component that would carry
  the vehicle closer to any fence boundary than it can stop from, as AC_Avoid does: FENCE_MARGIN
  kept clear, the square-root controller with the position controller's P gain and its
  acceleration capped at AC_AVOID_ACCEL_CMSS_MAX (min(WP_ACC, 1 m/s²); so at 10 m/s the vehicle
  starts slowing ~50 m before the margin line, as in real SITL), sliding along the boundary as
  AC_Avoid's default "slide" behaviour does, and limits climb below FENCE_ALT_MAX the same way
  (min(WP_ACC_Z, 1 m/s²), PSC_D_POS_P). ArduPilot applies it in
  GUIDED, LOITER and the other position modes; so does the simulator. It is not AC_Avoid's exact
  geometry (no AVOID_DIST_MAX back-away, no proximity sensors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from drone_agent.sim.dynamics import sqrt_controller
from drone_agent.sim.geo import Origin

TYPE_ALT_MAX = 1
TYPE_CIRCLE = 2
TYPE_POLYGON = 4
TYPE_ALT_MIN = 8

CMD_RETURN_POINT = 5000
CMD_POLY_INCLUSION = 5001
CMD_POLY_EXCLUSION = 5002
CMD_CIRCLE_INCLUSION = 5003
CMD_CIRCLE_EXCLUSION = 5004
FENCE_COMMANDS = frozenset({CMD_RETURN_POINT, CMD_POLY_INCLUSION, CMD_POLY_EXCLUSION,
                            CMD_CIRCLE_INCLUSION, CMD_CIRCLE_EXCLUSION})
# MAV_FRAME values AC_PolyFence accepts (GLOBAL, GLOBAL_RELATIVE_ALT, GLOBAL_INT, ..._RELATIVE_ALT_INT,
# GLOBAL_TERRAIN_ALT, GLOBAL_TERRAIN_ALT_INT)
ACCEPTED_FRAMES = frozenset({0, 3, 5, 6, 10, 11})
BACKUP_DISTANCE_M = 20.0
MANUAL_RECOVERY_S = 10.0
GIVE_UP_DISTANCE_M = 100.0
MAX_ITEMS = 84  # "this is 84 items on PixHawk"

BREACH_NONE, BREACH_MINALT, BREACH_MAXALT, BREACH_BOUNDARY = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class FenceItem:
    """One stored fence item, as it is read back (MISSION_ITEM_INT fields that survive storage)."""

    command: int
    param1: float  # vertex count (polygons) or radius in metres (circles); 0 for a return point
    lat_e7: int
    lon_e7: int


def validate_items(items: Sequence[FenceItem]) -> list[str]:
    """AC_PolyFence_loader::validate_fence: [] if valid, else the STATUSTEXTs ArduPilot sends."""
    expected_left = 0
    expected_count = 0
    expected_cmd = 0
    seen_return = False
    for item in items:
        if item.command in (CMD_POLY_INCLUSION, CMD_POLY_EXCLUSION):
            count = int(item.param1)
            if expected_left == 0:
                if count < 3:
                    return [f"Invalid vertex count ({count})", "Fence validation failed"]
                expected_left, expected_count, expected_cmd = count, count, item.command
            elif item.command != expected_cmd:
                return [f"Received incorrect vertex type (want={expected_cmd} got={item.command})",
                        "Fence validation failed"]
            elif count != expected_count:
                return [f"Unexpected vertex count want={expected_count} got={count}",
                        "Fence validation failed"]
            expected_left -= 1
        elif item.command in (CMD_CIRCLE_INCLUSION, CMD_CIRCLE_EXCLUSION):
            if expected_left:
                return [f"Received incorrect type (want={expected_cmd} got={item.command})",
                        "Fence validation failed"]
            if not item.param1 > 0.0:
                return ["Non-positive circle radius", "Fence validation failed"]
        elif item.command == CMD_RETURN_POINT:
            if expected_left:
                return [f"Received incorrect type (want={expected_cmd} got={item.command})",
                        "Fence validation failed"]
            if seen_return:
                return ["Multiple return points", "Fence validation failed"]
            seen_return = True
        if not (-900_000_000 <= item.lat_e7 <= 900_000_000
                and -1_800_000_000 <= item.lon_e7 <= 1_800_000_000):
            return ["Bad lat or lon", "Fence validation failed"]
    if expected_left:
        return ["Incorrect item count", "Fence validation failed"]
    return []


@dataclass(frozen=True, slots=True)
class Zones:
    """Stored fence items converted to metres around the origin."""

    inclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    exclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    inclusion_circles: tuple[tuple[float, float, float], ...] = ()  # (north, east, radius)
    exclusion_circles: tuple[tuple[float, float, float], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.inclusion_polygons or self.exclusion_polygons or self.inclusion_circles
                    or self.exclusion_circles)


def zones_from_items(items: Sequence[FenceItem], origin: Origin) -> Zones:
    incl_p: list[tuple[tuple[float, float], ...]] = []
    excl_p: list[tuple[tuple[float, float], ...]] = []
    incl_c: list[tuple[float, float, float]] = []
    excl_c: list[tuple[float, float, float]] = []
    current: list[tuple[float, float]] = []
    for item in items:
        ne = origin.to_ne(item.lat_e7 * 1e-7, item.lon_e7 * 1e-7)
        if item.command in (CMD_POLY_INCLUSION, CMD_POLY_EXCLUSION):
            current.append(ne)
            if len(current) == int(item.param1):
                (incl_p if item.command == CMD_POLY_INCLUSION else excl_p).append(tuple(current))
                current = []
        elif item.command == CMD_CIRCLE_INCLUSION:
            incl_c.append((ne[0], ne[1], item.param1))
        elif item.command == CMD_CIRCLE_EXCLUSION:
            excl_c.append((ne[0], ne[1], item.param1))
    return Zones(tuple(incl_p), tuple(excl_p), tuple(incl_c), tuple(excl_c))


def point_in_polygon(n: float, e: float, poly: Sequence[tuple[float, float]]) -> bool:
    """Even-odd rule (ArduPilot's Polygon_outside, inverted)."""
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        ni, ei = poly[i]
        nj, ej = poly[j]
        if (ei > e) != (ej > e) and n < (nj - ni) * (e - ei) / (ej - ei) + ni:
            inside = not inside
        j = i
    return inside


def polygon_breached(n: float, e: float, zones: Zones, union: bool) -> bool:
    """AC_PolyFence_loader::breached for one position."""
    outside = 0
    for poly in zones.inclusion_polygons:
        if not point_in_polygon(n, e, poly):
            outside += 1
    for poly in zones.exclusion_polygons:
        if point_in_polygon(n, e, poly):
            return True
    for cn, ce, r in zones.exclusion_circles:
        if math.hypot(n - cn, e - ce) < r:
            return True
    for cn, ce, r in zones.inclusion_circles:
        if math.hypot(n - cn, e - ce) > r:
            outside += 1
    n_incl = len(zones.inclusion_polygons) + len(zones.inclusion_circles)
    if union:
        return n_incl > 0 and outside == n_incl
    return outside > 0


def fence_names(types: int) -> str:
    """AC_Fence::print_fence_message: 'Max Alt', 'Circle and Polygon', ..."""
    names = [name for bit, name in ((TYPE_ALT_MAX, "Max Alt"), (TYPE_CIRCLE, "Circle"),
                                    (TYPE_POLYGON, "Polygon"), (TYPE_ALT_MIN, "Min Alt"))
             if types & bit]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True, slots=True)
class FenceConfig:
    """The FENCE_* parameters the checks use (snapshot taken each check)."""

    types: int
    alt_max_m: float
    alt_min_m: float
    radius_m: float
    margin_m: float
    action: int
    options: int


@dataclass(slots=True)
class FenceState:
    """Runtime fence state: which fences are breached, backups, counters, manual recovery."""

    breached: int = 0
    breach_count: int = 0
    breach_time_ms: int = 0
    alt_max_backup_m: float = 0.0
    circle_backup_m: float = 0.0
    recovery_until_s: float = -1.0

    def check(self, cfg: FenceConfig, zones: Zones, north_m: float, east_m: float,
              alt_m: float, now_s: float, time_ms: int) -> int:
        """Update breach state; return the fence types newly breached (0 if none)."""
        new = 0
        if cfg.types & TYPE_ALT_MAX:
            limit = self.alt_max_backup_m if self.breached & TYPE_ALT_MAX else cfg.alt_max_m
            if alt_m >= cfg.alt_max_m:
                if not self.breached & TYPE_ALT_MAX or alt_m >= limit:
                    new |= TYPE_ALT_MAX
                    self.alt_max_backup_m = alt_m + BACKUP_DISTANCE_M
            else:
                self.breached &= ~TYPE_ALT_MAX
        if cfg.types & TYPE_ALT_MIN:
            if alt_m <= cfg.alt_min_m:
                if not self.breached & TYPE_ALT_MIN:
                    new |= TYPE_ALT_MIN
            else:
                self.breached &= ~TYPE_ALT_MIN
        if cfg.types & TYPE_CIRCLE:
            dist = math.hypot(north_m, east_m)
            if dist >= cfg.radius_m:
                if not self.breached & TYPE_CIRCLE or dist >= self.circle_backup_m:
                    new |= TYPE_CIRCLE
                    self.circle_backup_m = dist + BACKUP_DISTANCE_M
            else:
                self.breached &= ~TYPE_CIRCLE
        if cfg.types & TYPE_POLYGON:
            if polygon_breached(north_m, east_m, zones, bool(cfg.options & 2)):
                if not self.breached & TYPE_POLYGON:
                    new |= TYPE_POLYGON
            else:
                self.breached &= ~TYPE_POLYGON
        self.breached &= cfg.types
        if new:
            for bit in (TYPE_ALT_MAX, TYPE_CIRCLE, TYPE_POLYGON, TYPE_ALT_MIN):
                if new & bit:
                    self.breach_count = min(self.breach_count + 1, 65500)
            if not self.breached:
                self.breach_time_ms = time_ms
            self.breached |= new
        return new

    def in_recovery(self, now_s: float) -> bool:
        return now_s < self.recovery_until_s

    def start_recovery(self, now_s: float) -> None:
        self.recovery_until_s = now_s + MANUAL_RECOVERY_S

    @property
    def breach_type(self) -> int:
        if self.breached & (TYPE_CIRCLE | TYPE_POLYGON):
            return BREACH_BOUNDARY
        if self.breached & TYPE_ALT_MAX:
            return BREACH_MAXALT
        if self.breached & TYPE_ALT_MIN:
            return BREACH_MINALT
        return BREACH_NONE

    def reset(self) -> None:
        self.breached = 0


def _closest_on_segment(n: float, e: float, a: tuple[float, float],
                        b: tuple[float, float]) -> tuple[float, float]:
    dn, de = b[0] - a[0], b[1] - a[1]
    length2 = dn * dn + de * de
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((n - a[0]) * dn + (e - a[1]) * de) / length2))
    return a[0] + t * dn, a[1] + t * de


def _boundaries(n: float, e: float, cfg: FenceConfig, zones: Zones
                ) -> list[tuple[float, float, float]]:
    """(unit_n, unit_e, distance) towards every nearby boundary the vehicle must not cross."""
    out: list[tuple[float, float, float]] = []

    def towards(pn: float, pe: float, sign: float = 1.0) -> None:
        dn, de = pn - n, pe - e
        d = math.hypot(dn, de)
        if d > 1e-6:
            out.append((sign * dn / d, sign * de / d, d))

    if cfg.types & TYPE_CIRCLE:
        r = math.hypot(n, e)
        if r > 1e-6:
            out.append((n / r, e / r, cfg.radius_m - r))
    if cfg.types & TYPE_POLYGON:
        for poly in zones.inclusion_polygons + zones.exclusion_polygons:
            for i in range(len(poly)):
                towards(*_closest_on_segment(n, e, poly[i - 1], poly[i]))
        for cn, ce, r in zones.inclusion_circles:
            d = math.hypot(n - cn, e - ce)
            if d > 1e-6:
                out.append(((n - cn) / d, (e - ce) / d, r - d))
        for cn, ce, r in zones.exclusion_circles:
            d = math.hypot(n - cn, e - ce)
            if d > 1e-6:
                out.append(((cn - n) / d, (ce - e) / d, d - r))
    return out


AVOID_ACCEL_MAX_MPS2 = 1.0  # AC_AVOID_ACCEL_CMSS_MAX (100 cm/s/s): AC_Avoid caps its deceleration


def avoid_max_speed(dist_m: float, pos_p: float, accel_mps2: float) -> float:
    """AC_Avoid::get_max_speed: the speed from which the sqrt controller stops within ``dist_m``."""
    if dist_m <= 0.0:
        return 0.0
    if pos_p <= 0.0:
        return math.sqrt(2.0 * dist_m * accel_mps2)
    return sqrt_controller(dist_m, pos_p, accel_mps2)


def limit_velocity(n: float, e: float, alt_m: float, vel_ne: tuple[float, float], vel_up: float,
                   cfg: FenceConfig, zones: Zones, accel_mps2: float, accel_z_mps2: float, *,
                   pos_p: float = 1.0, pos_p_z: float = 1.0
                   ) -> tuple[tuple[float, float], float, bool]:
    """AC_Avoid-like slide: limit the velocity towards each boundary; returns (ne, up, limited).

    As AC_Avoid::adjust_velocity_fence / adjust_velocity_z: the deceleration is the position
    controller's (``accel_mps2`` = WP_ACC, ``accel_z_mps2`` = WP_ACC_Z) capped at
    AC_AVOID_ACCEL_CMSS_MAX (1 m/s²), and the largest speed towards a boundary is the square-root
    controller's (gain ``pos_p`` = PSC_NE_POS_P, ``pos_p_z`` = PSC_D_POS_P) for the distance to the
    FENCE_MARGIN line: at 10 m/s and the defaults the vehicle starts slowing ~50 m before it
    (v²/2a + a/2p²). Two passes over the boundaries let the limits of two edges meeting at a
    corner both hold.
    """
    accel = min(accel_mps2, AVOID_ACCEL_MAX_MPS2)
    accel_z = min(accel_z_mps2, AVOID_ACCEL_MAX_MPS2)
    vn, ve = vel_ne
    limited = False
    boundaries = _boundaries(n, e, cfg, zones)
    for _ in range(2):
        for un, ue, dist in boundaries:
            toward = vn * un + ve * ue
            if toward <= 0.0:
                continue
            max_toward = avoid_max_speed(dist - cfg.margin_m, pos_p, accel)
            if toward > max_toward:
                vn -= (toward - max_toward) * un
                ve -= (toward - max_toward) * ue
                limited = True
    if cfg.types & TYPE_ALT_MAX and vel_up > 0.0:
        max_up = avoid_max_speed(cfg.alt_max_m - cfg.margin_m - alt_m, pos_p_z, accel_z)
        if vel_up > max_up:
            vel_up = max_up
            limited = True
    return (vn, ve), vel_up, limited
