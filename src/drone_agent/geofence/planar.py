"""Planar helpers for the per-check hot path, in the fence's local metric frame.

Small outlines are handled in plain Python, which beats numpy's per-call overhead below about
:data:`SMALL_OUTLINE` segments: a convex polygon as half-planes (distance to the boundary from
inside = the smallest distance to an edge line; exit time along a velocity = the smallest distance
over closing speed), any polygon as boundary segments crossed by the velocity ray.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

SMALL_OUTLINE = 24  # segments


def convex_halfplanes(geom: BaseGeometry) -> list[tuple[float, float, float, float]]:
    """For a small convex polygon: per edge (x0, y0, outward unit normal); else an empty list.
    Inside a convex polygon the distance to the boundary is the smallest distance to an edge line
    and the exit time along a velocity the smallest (distance / closing speed) over the edges."""
    if not isinstance(geom, Polygon) or geom.interiors or len(geom.exterior.coords) - 1 > SMALL_OUTLINE:
        return []
    if geom.convex_hull.area - geom.area > 1e-9 * geom.area:
        return []
    ring = shapely.get_coordinates(shapely.orient_polygons(geom).exterior)  # counter-clockwise
    planes = []
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:], strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        if length > 0.0:
            planes.append((float(x0), float(y0), (y1 - y0) / length, -(x1 - x0) / length))
    return planes


def inside_convex(planes: list, x: float, y: float) -> float:
    """Distance from (x, y) to the boundary when inside, or a negative number when outside."""
    depth = math.inf
    for x0, y0, nx, ny in planes:
        d = (x0 - x) * nx + (y0 - y) * ny
        if d < depth:
            depth = d
    return depth


def exit_convex(planes: list, x: float, y: float, vx: float, vy: float) -> float | None:
    best = math.inf
    for x0, y0, nx, ny in planes:
        closing = vx * nx + vy * ny
        if closing > 0.0:
            t = ((x0 - x) * nx + (y0 - y) * ny) / closing
            if t < best:
                best = t
    return best if best < math.inf else None


def boundary_segments(geom: BaseGeometry) -> tuple:
    """Boundary segments of every ring of a (multi)polygon, for :func:`first_crossing`: a list of
    (x0, y0, dx, dy) tuples for small outlines, four numpy columns for large ones."""
    rows = []
    for ring in shapely.get_rings(shapely.get_parts(geom)):
        c = shapely.get_coordinates(ring)
        rows.append(np.column_stack([c[:-1], c[1:] - c[:-1]]))
    seg = np.concatenate(rows) if rows else np.empty((0, 4))
    if len(seg) <= SMALL_OUTLINE:
        return ("list", [tuple(map(float, r)) for r in seg])
    return ("array", tuple(np.ascontiguousarray(seg[:, k]) for k in range(4)))


def first_crossing(x: float, y: float, vx: float, vy: float, segments: tuple) -> float | None:
    """Smallest t >= 0 at which (x, y) + t (vx, vy) meets a segment; None if it never does.
    Segments parallel to the motion are skipped (sliding along an edge is not entering)."""
    form, data = segments
    if form == "list":
        best = math.inf
        for x0, y0, dx, dy in data:
            denom = vx * dy - vy * dx
            if denom == 0.0:
                continue
            wx, wy = x0 - x, y0 - y
            t = (wx * dy - wy * dx) / denom
            u = (wx * vy - wy * vx) / denom
            if 0.0 <= u <= 1.0 and 0.0 <= t < best:
                best = t
        return best if best < math.inf else None
    x0, y0, dx, dy = data
    denom = vx * dy - vy * dx
    usable = denom != 0.0
    if not usable.all():
        x0, y0, dx, dy, denom = x0[usable], y0[usable], dx[usable], dy[usable], denom[usable]
    wx, wy = x0 - x, y0 - y
    t = (wx * dy - wy * dx) / denom
    u = (wx * vy - wy * vx) / denom
    t = t[(u >= 0.0) & (u <= 1.0) & (t >= 0.0)]
    return float(t.min()) if len(t) else None
