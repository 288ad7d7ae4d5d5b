"""Geo-referenced privacy masking: black out every privacy zone in a frame before anything else.

Theory of operation
-------------------
A ``PrivacyZone`` is a polygon in the local ENU frame (metres, origin at home), standing on the
ground at ``ground_up_m`` (terrain height relative to home) and optionally extruded upwards by a
structure height. Interior rings are ignored: a hole in a zone is masked too (conservative).

For each frame, ``PrivacyMasker.apply(frame, estimate)``:

1. **Fails closed** (whole frame black, reason recorded) when the pose is unknown (stale or missing
   telemetry), the frame size differs from the camera model, the camera is so close to a zone that
   the position error could put it inside, a zone's ground polygon comes within
   ``horizon_margin_deg`` (plus the pose uncertainty) of the horizon, or anything in the projection
   is not computable (non-finite numbers, OpenCV errors).
2. Otherwise every face of each zone's prism (floor, roof, walls) is transformed into camera axes,
   clipped against a frustum wider than the image (near plane included), densified if the lens has
   distortion and projected with the camera model. The image of a solid is the union of the images
   of its faces, so non-convex zones and oblique views of walls are covered. The faces of a zone
   are made valid (a wall seen edge-on becomes a line) and united (for a convex footprint and a
   pinhole lens simply the convex hull of all projected vertices), grown by the zone's pad (a
   round buffer whose chords circumscribe the circle), united with the other zones, cut to the
   image and filled solid black in one ``cv2.fillPoly`` call with sub-pixel precision. The masked
   fraction is the area of that region over the image area.
3. With ``keep_inside`` (an operation area, when the profile asks to mask everything outside it),
   the area's ground polygon — cut to the ground disc seen at least ``horizon_margin_deg`` + δ
   below the horizon — is projected the same way, *shrunk* by its pad, and everything else in
   the image (sky included) is blacked out as the pseudo-zone "outside operation area".

Pose uncertainty → padding (per zone, per frame), in normalised image units, then pixels::

    lag    = timing_skew_s + pose_age_s
    Δ_m    = position_error_m + speed · lag                    (camera position error)
    δ      = attitude_error + angular_rate · lag               (camera attitude error)
    pad    = tan δ · (1 + r²) / (1 − r · tan δ)                (rotation by δ)
           + Δ_m · sqrt(1 + r²) / z_min                        (translation by Δ_m)
    pad_px = pixel_gain · pad + 1.5

where r is the largest normalised radius over the zone's clipped vertices, capped at the image
corner's (only zone points that truly appear in the image matter), and z_min the smallest depth
over those vertices (extremes of convex/affine functions over planar faces, so attained at
vertices). The bound is computed twice: over the faces clipped to the wide frustum, giving pad₁,
then over the faces clipped to the image widened by pad₁ (the only place where a zone point that
truly appears in the image can be seen from the estimated pose), and the smaller is used. A
rotation by δ moves a point at normalised radius r by at most the first term, a
translation by Δ moves a point at depth z by at most the second. ``pixel_gain`` is the camera's
largest pixels-per-normalised-unit (see camera.py); 1.5 px covers rasterisation. A pad larger than
the camera's ``pad_limit`` (the clipping frustum's margin) fails closed, as does a camera closer
to a zone (horizontally outside it, or above its roof) than Δ_m. The result says which zones were
masked, how much of the frame went black and why a whole frame was blanked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from drone_agent.capture.camera import CameraModel
from drone_agent.capture.pose import CameraPose, PoseEstimate

NEAR_PLANE_M = 0.05
OUTSIDE_AREA = "outside operation area"
SUBPIXEL_SHIFT = 3  # fixed-point bits for OpenCV drawing
DISTORTED_EDGE_STEPS = 12
BUFFER_QUAD_SEGS = 8
# shapely approximates the round pen by chords, which lie inside the circle: grow the radius so the
# polygonal pen circumscribes it.
BUFFER_COVER = 1.0 / math.cos(math.pi / (4 * BUFFER_QUAD_SEGS))


@dataclass(frozen=True, slots=True)
class PrivacyZone:
    """A privacy zone's ground polygon (local ENU metres) and its extrusion."""

    name: str
    polygon: Polygon
    ground_up_m: float = 0.0
    height_m: float = 0.0


def zones_from_local(
    zones: Iterable[tuple[str, Polygon, float, float]],
    *,
    terrain_up_m: float = 0.0,
    structure_height_m: float = 0.0,
) -> tuple[PrivacyZone, ...]:
    """PrivacyZones from ``fence.privacy_zones_local()`` tuples (name, polygon, floor, ceiling).

    The floor/ceiling there are flight bands; what the camera must not see stands on the ground,
    so each zone is placed at ``terrain_up_m`` and extruded by ``structure_height_m``.
    """
    return tuple(
        PrivacyZone(name, polygon, terrain_up_m, structure_height_m)
        for name, polygon, _floor, _ceiling in zones
    )


@dataclass(frozen=True, slots=True)
class PoseUncertainty:
    """Error budget used to widen masks (see the module docstring)."""

    attitude_error_deg: float = 1.5
    position_error_m: float = 3.0
    timing_skew_s: float = 0.05
    horizon_margin_deg: float = 1.0


@dataclass(frozen=True, slots=True)
class MaskResult:
    """What masking did to one frame."""

    full_frame: bool
    reason: str
    zones: tuple[str, ...]
    fraction: float
    pad_px: float


@dataclass(frozen=True, slots=True, eq=False)
class _ZoneImage:
    """One zone's projected faces (pixels), its padding, and whether its image is convex."""

    name: str
    pad_px: float
    polygons: list[np.ndarray]
    convex: bool


class _FullFrame(Exception):
    """Masking cannot be computed safely for this frame: black it out."""


@dataclass(frozen=True, slots=True, eq=False)
class _Prism:
    name: str
    footprint: Polygon
    floor_up_m: float
    roof_up_m: float
    vertices: np.ndarray  # all faces' vertices (ENU), faces[0] is the floor
    splits: tuple[int, ...]  # np.split indices of ``vertices`` into faces
    convex: bool  # a convex footprint: the prism's image is the hull of its vertices' images


def _prism(zone: PrivacyZone) -> _Prism:
    ring = np.asarray(zone.polygon.exterior.coords, dtype=float)[:-1]
    if len(ring) < 3 or not zone.polygon.is_valid:
        raise ValueError(f"privacy zone {zone.name!r}: polygon is not a valid area")
    floor = np.column_stack([ring, np.full(len(ring), zone.ground_up_m)])
    faces = [floor]
    roof_up = zone.ground_up_m + max(0.0, zone.height_m)
    if zone.height_m > 0.0:
        roof = floor.copy()
        roof[:, 2] = roof_up
        faces.append(roof)
        for i in range(len(ring)):
            j = (i + 1) % len(ring)
            faces.append(np.array([floor[i], floor[j], roof[j], roof[i]]))
    splits = tuple(int(i) for i in np.cumsum([len(f) for f in faces])[:-1])
    hull_area = zone.polygon.convex_hull.area
    convex = hull_area - zone.polygon.area <= 1e-9 * hull_area
    return _Prism(
        zone.name, zone.polygon, zone.ground_up_m, roof_up, np.concatenate(faces), splits, convex
    )


def _clip(polygon: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Sutherland–Hodgman: keep the part of a 3-D polygon where ``a·p + d >= 0`` for every plane
    (rows ``[a, d]``). A vectorised test skips polygons fully inside (or outside); the clipping of
    the few small polygons that straddle a plane runs on plain floats, which beats numpy's
    per-call overhead at these sizes."""
    sides = polygon @ planes[:, :3].T + planes[:, 3]
    inside = sides >= 0.0
    if inside.all():
        return polygon
    outside_all = (~inside).all(axis=0)
    if outside_all.any():
        return polygon[:0]
    points = polygon.tolist()
    for k in np.nonzero(~inside.all(axis=0))[0].tolist():
        ax, ay, az, d = planes[k].tolist()
        out = []
        n = len(points)
        side = [ax * p[0] + ay * p[1] + az * p[2] + d for p in points]
        for i in range(n):
            p, sp = points[i], side[i]
            q, sq = points[(i + 1) % n], side[(i + 1) % n]
            if sp >= 0.0:
                out.append(p)
            if (sp >= 0.0) != (sq >= 0.0):
                t = sp / (sp - sq)
                out.append([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t, p[2] + (q[2] - p[2]) * t])
        if len(out) < 3:
            return polygon[:0]
        points = out
    return np.array(points)


def _polygon_parts(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons of a (multi)polygon or collection; lines and points have no area to fill."""
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, MultiPolygon) or hasattr(geometry, "geoms"):
        return [part for g in geometry.geoms for part in _polygon_parts(g)]
    return []


def _densify(polygon: np.ndarray, steps: int) -> np.ndarray:
    nxt = np.roll(polygon, -1, axis=0)
    t = np.arange(steps)[None, :, None] / steps
    return (polygon[:, None, :] + (nxt - polygon)[:, None, :] * t).reshape(-1, 3)


class PrivacyMasker:
    """Blacks out privacy zones in frames of one camera (see the module docstring)."""

    def __init__(
        self,
        camera: CameraModel,
        zones: Iterable[PrivacyZone],
        uncertainty: PoseUncertainty = PoseUncertainty(),
        *,
        keep_inside: Polygon | MultiPolygon | None = None,
        keep_ground_up_m: float = 0.0,
    ) -> None:
        self.camera = camera
        self.uncertainty = uncertainty
        self._prisms = tuple(_prism(z) for z in zones)
        if keep_inside is not None and (keep_inside.is_empty or not keep_inside.is_valid):
            raise ValueError("the operation area to keep is not a valid area")
        self._keep = keep_inside
        self._keep_up_m = keep_ground_up_m
        lx, ly = camera.view_limits
        self._r_corner = math.hypot(lx, ly)
        self._planes = self._frustum(camera.pad_limit)

    @property
    def zone_names(self) -> tuple[str, ...]:
        names = tuple(p.name for p in self._prisms)
        return names + ((OUTSIDE_AREA,) if self._keep is not None else ())

    def apply(self, frame: np.ndarray, estimate: PoseEstimate) -> MaskResult:
        """Mask ``frame`` (H×W×3 uint8, modified in place) for the camera pose ``estimate``."""
        height, width = frame.shape[:2]
        try:
            if (width, height) != (self.camera.width_px, self.camera.height_px):
                raise _FullFrame(
                    f"frame {width}x{height} does not match the camera model "
                    f"{self.camera.width_px}x{self.camera.height_px}"
                )
            if estimate.pose is None:
                raise _FullFrame(f"pose unknown: {estimate.reason}")
            polygons = self._project(estimate.pose)
            keep = None if self._keep is None else self._keep_region(estimate.pose, width, height)
        except _FullFrame as exc:
            frame[...] = 0
            return MaskResult(True, str(exc), self.zone_names, 1.0, math.inf)
        except (ValueError, ArithmeticError, cv2.error) as exc:
            frame[...] = 0
            return MaskResult(True, f"projection failed: {exc}", self.zone_names, 1.0, math.inf)
        if not polygons and keep is None:
            return MaskResult(False, "", (), 0.0, 0.0)
        names = tuple(dict.fromkeys(zone.name for zone in polygons))
        pad_px = max((zone.pad_px for zone in polygons), default=0.0)
        try:
            black = self._black_region(polygons, width, height)
            if keep is not None:
                outside = box(-0.5, -0.5, width - 0.5, height - 0.5).difference(keep[0])
                if not outside.is_empty:
                    black = black.union(outside)
                    names += (OUTSIDE_AREA,)
                pad_px = max(pad_px, keep[1])
        except (ValueError, shapely.errors.ShapelyError) as exc:
            frame[...] = 0
            return MaskResult(True, f"mask geometry failed: {exc}", self.zone_names, 1.0, math.inf)
        scale = 1 << SUBPIXEL_SHIFT
        rings = [
            np.round(np.asarray(ring.coords) * scale).astype(np.int32)
            for part in _polygon_parts(black)
            for ring in (part.exterior, *part.interiors)
        ]
        if rings:  # one call: disjoint polygons, holes by the even-odd rule
            cv2.fillPoly(frame, rings, (0, 0, 0), cv2.LINE_8, SUBPIXEL_SHIFT)
        fraction = min(1.0, black.area / (width * height))
        return MaskResult(False, "", names, fraction, pad_px)

    def _keep_region(self, pose: CameraPose, width: int, height: int) -> tuple[BaseGeometry, float]:
        """The image region that certainly shows ground inside the operation area, and its pad.

        The area is first cut to the ground disc seen at least ``horizon_margin_deg`` + δ below
        the horizon (far ground is ill-conditioned), projected like a zone floor, then shrunk by
        the pad (a circumscribing round pen, so it shrinks at least that much)."""
        assert self._keep is not None
        u = self.uncertainty
        position = pose.position_enu_m
        rotation = pose.cv_from_enu
        lag_s = u.timing_skew_s + pose.age_s
        delta_m = u.position_error_m + pose.speed_mps * lag_s
        rot_rad = math.radians(u.attitude_error_deg) + pose.angular_rate_rps * lag_s
        height_m = position[2] - self._keep_up_m
        nothing = (Polygon(), 0.0)
        if height_m <= delta_m:
            return nothing
        reach_m = height_m / math.tan(math.radians(u.horizon_margin_deg) + rot_rad)
        seen = self._keep.intersection(Point(position[0], position[1]).buffer(reach_m, quad_segs=16))
        faces: list[np.ndarray] = []
        for part in _polygon_parts(seen):
            for ring in (part.exterior, *part.interiors):
                xy = np.asarray(ring.coords, dtype=float)[:-1]
                enu = np.column_stack([xy, np.full(len(xy), self._keep_up_m)])
                clipped = _clip((enu - position) @ rotation.T, self._planes)
                faces.append(clipped)
        visible = [f for f in faces if len(f) >= 3]
        if not visible:
            return nothing
        pad_norm = self._pad(OUTSIDE_AREA, visible, math.tan(rot_rad), delta_m)
        pad_px = self.camera.pixel_gain * pad_norm + 1.5
        region: BaseGeometry = Polygon()
        for face in visible:
            if self.camera.has_distortion:
                face = _densify(face, DISTORTED_EDGE_STEPS)
            pixels = self.camera.project(face)
            if not np.all(np.isfinite(pixels)):
                raise _FullFrame("the operation area does not project to finite pixels")
            region = region.symmetric_difference(shapely.make_valid(Polygon(pixels)))
        kept = region.buffer(-pad_px * BUFFER_COVER, quad_segs=BUFFER_QUAD_SEGS)
        return kept.intersection(box(-0.5, -0.5, width - 0.5, height - 0.5)), pad_px

    @staticmethod
    def _black_region(polygons: list[_ZoneImage], width: int, height: int) -> BaseGeometry:
        """Union of every zone's faces grown by its pad, cut to the image: disjoint polygons."""
        grown = []
        for zone in polygons:
            if zone.convex:
                faces = shapely.convex_hull(shapely.multipoints(np.concatenate(zone.polygons)))
            else:
                faces = shapely.union_all([shapely.make_valid(Polygon(p)) for p in zone.polygons])
            grown.append(faces.buffer(zone.pad_px * BUFFER_COVER, quad_segs=BUFFER_QUAD_SEGS))
        image = box(-0.5, -0.5, width - 0.5, height - 0.5)
        return shapely.union_all(grown).intersection(image)

    def _frustum(self, margin: float) -> np.ndarray:
        """Clipping planes (a·p + d ≥ 0) of the image frustum widened by ``margin`` (normalised)."""
        lx, ly = self.camera.view_limits
        cx, cy = lx * 1.02 + margin, ly * 1.02 + margin
        return np.array(
            [
                [0.0, 0.0, 1.0, -NEAR_PLANE_M],
                [-1.0, 0.0, cx, 0.0],
                [1.0, 0.0, cx, 0.0],
                [0.0, -1.0, cy, 0.0],
                [0.0, 1.0, cy, 0.0],
            ]
        )

    def _pad(self, name: str, faces: list[np.ndarray], tan_rot: float, delta_m: float) -> float:
        """Padding (normalised units) bounding the pose error's shift over these clipped faces."""
        vertices = np.concatenate(faces)
        r2 = np.sum((vertices[:, :2] / vertices[:, 2:3]) ** 2, axis=1)
        r_max = min(math.sqrt(float(np.max(r2))), self._r_corner)
        inv_depth = float(np.max(1.0 / vertices[:, 2]))
        if r_max * tan_rot >= 0.5:
            raise _FullFrame(f"zone {name!r}: attitude uncertainty too large at the image edge")
        pad_norm = tan_rot * (1.0 + r_max**2) / (1.0 - r_max * tan_rot)
        pad_norm += delta_m * math.sqrt(1.0 + r_max**2) * inv_depth
        if not math.isfinite(pad_norm) or pad_norm > self.camera.pad_limit:
            raise _FullFrame(f"zone {name!r}: pose uncertainty needs more padding than the camera allows")
        return pad_norm

    def _project(self, pose: CameraPose) -> list[_ZoneImage]:
        """Pixel polygons per visible zone with their padding, or raise _FullFrame."""
        u = self.uncertainty
        position = pose.position_enu_m
        rotation = pose.cv_from_enu
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(rotation))):
            raise _FullFrame("pose is not finite")
        lag_s = u.timing_skew_s + pose.age_s
        delta_m = u.position_error_m + pose.speed_mps * lag_s
        rot_rad = math.radians(u.attitude_error_deg) + pose.angular_rate_rps * lag_s
        if rot_rad >= math.radians(20.0):
            raise _FullFrame(f"attitude uncertainty {math.degrees(rot_rad):.1f} deg too large")
        tan_rot = math.tan(rot_rad)
        horizon_rad = math.radians(u.horizon_margin_deg) + rot_rad
        results: list[_ZoneImage] = []
        camera_point = Point(position[0], position[1])
        for prism in self._prisms:
            horizontal_m = 0.0
            if not shapely.contains_xy(prism.footprint, position[0], position[1]):
                horizontal_m = prism.footprint.exterior.distance(camera_point)
            if max(horizontal_m, position[2] - prism.roof_up_m) <= delta_m:
                raise _FullFrame(
                    f"camera within its {delta_m:.1f} m position uncertainty of zone {prism.name!r}"
                )
            cam_faces = np.split((prism.vertices - position) @ rotation.T, prism.splits)
            clipped_faces = []
            for index, cam in enumerate(cam_faces):
                clipped = _clip(cam, self._planes)
                if len(clipped) < 3:
                    continue
                if index == 0:
                    enu = clipped @ rotation  # back to ENU directions from the camera
                    elevation = np.arctan2(enu[:, 2], np.hypot(enu[:, 0], enu[:, 1]))
                    if float(np.max(elevation)) > -horizon_rad:
                        raise _FullFrame(f"zone {prism.name!r} reaches the horizon")
                clipped_faces.append(clipped)
            if not clipped_faces:
                continue
            pad_norm = self._pad(prism.name, clipped_faces, tan_rot, delta_m)
            # Only zone points seen within pad of the image can truly appear in it: recompute the
            # bound over the faces clipped to that tighter frustum (never larger than the first).
            tight = self._frustum(pad_norm)
            everything = np.concatenate(clipped_faces)
            if not np.all(everything @ tight[:, :3].T + tight[:, 3] >= 0.0):
                near = [c for c in (_clip(cam, tight) for cam in cam_faces) if len(c) >= 3]
                if not near:
                    continue
                pad_norm = min(pad_norm, self._pad(prism.name, near, tan_rot, delta_m))
            if self.camera.has_distortion:
                clipped_faces = [_densify(c, DISTORTED_EDGE_STEPS) for c in clipped_faces]
                everything = np.concatenate(clipped_faces)
            pixels = self.camera.project(everything)
            if not np.all(np.isfinite(pixels)):
                raise _FullFrame(f"zone {prism.name!r} does not project to finite pixels")
            splits = np.cumsum([len(c) for c in clipped_faces])[:-1]
            pixel_polys = np.split(pixels, splits)
            pad_px = self.camera.pixel_gain * pad_norm + 1.5
            # a convex solid clipped by a convex frustum projects (pinhole) to a convex region
            hull = prism.convex and not self.camera.has_distortion
            results.append(_ZoneImage(prism.name, pad_px, pixel_polys, hull))
        return results
