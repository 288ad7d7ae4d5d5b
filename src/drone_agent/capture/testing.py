"""Test doubles for capture: a ground-truth camera that paints privacy zones in a reserved colour.

``TruthCamera`` renders what a camera at a known pose sees: a textured ground with every privacy
zone painted ``RESERVED_BGR`` (magenta). It shares **no** geometry with ``privacy.py``: it builds
its rotation from Euler-angle matrices and finds zone pixels by casting a ray through every pixel
centre (undistorted with OpenCV) and intersecting it with each zone's prism, rather than projecting
polygons. The leak tests run the production masking on these frames with a *noisy* pose and
require that no reserved-colour pixel survives. With ``keep_inside`` (an operation area) every
pixel that does not see the ground inside that area (sky included) is painted too, for testing
"mask everything outside the operation area".
``FlatEarthFrame`` is a small local tangent-plane
projection for tests, and ``telemetry`` makes the pymavlink messages a flight would send.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.capture.camera import CameraModel
from drone_agent.capture.privacy import PrivacyZone

RESERVED_BGR = (255, 0, 255)
EARTH_RADIUS_M = 6_371_000.0
FAR_M = 20_000.0


@dataclass(frozen=True, slots=True)
class FlatEarthFrame:
    """Equirectangular local frame about a home point (metres east/north)."""

    home_lat_deg: float
    home_lon_deg: float

    def to_local(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        north = math.radians(lat_deg - self.home_lat_deg) * EARTH_RADIUS_M
        east = (
            math.radians(lon_deg - self.home_lon_deg)
            * EARTH_RADIUS_M
            * math.cos(math.radians(self.home_lat_deg))
        )
        return east, north

    def to_geo(self, east_m: float, north_m: float) -> tuple[float, float]:
        lat = self.home_lat_deg + math.degrees(north_m / EARTH_RADIUS_M)
        lon = self.home_lon_deg + math.degrees(
            east_m / (EARTH_RADIUS_M * math.cos(math.radians(self.home_lat_deg)))
        )
        return lat, lon


@dataclass(frozen=True, slots=True)
class TruthPose:
    """Vehicle position/attitude and a gimbal whose roll/pitch are earth-referenced and yaw is
    relative to the vehicle heading (ArduPilot's convention). Angles in degrees."""

    east_m: float
    north_m: float
    up_m: float
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0
    gimbal_roll_deg: float = 0.0
    gimbal_pitch_deg: float = -90.0
    gimbal_yaw_deg: float = 0.0


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def truth_enu_from_cv(pose: TruthPose) -> np.ndarray:
    """Rotation taking OpenCV camera axes to ENU, built from matrices only."""
    r = math.radians
    ned_from_cam_frd = (
        _rz(r(pose.yaw_deg + pose.gimbal_yaw_deg))
        @ _ry(r(pose.gimbal_pitch_deg))
        @ _rx(r(pose.gimbal_roll_deg))
    )
    frd_from_cv = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    enu_from_ned = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], dtype=float)
    return enu_from_ned @ ned_from_cam_frd @ frd_from_cv


class TruthCamera:
    """Renders frames with privacy zones painted RESERVED_BGR by per-pixel ray casting."""

    def __init__(
        self,
        camera: CameraModel,
        zones: tuple[PrivacyZone, ...],
        seed: int = 0,
        *,
        keep_inside: shapely.Geometry | None = None,
        keep_up_m: float = 0.0,
    ) -> None:
        self.camera = camera
        self.zones = zones
        self.keep_inside = keep_inside
        self.keep_up_m = keep_up_m
        w, h = camera.width_px, camera.height_px
        us, vs = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
        pixels = np.stack([us.ravel(), vs.ravel()], 1).reshape(-1, 1, 2)
        normalised = cv2.undistortPoints(pixels, camera.matrix, camera.distortion).reshape(-1, 2)
        self._rays_cv = np.column_stack([normalised, np.ones(len(normalised))])
        rng = np.random.default_rng(seed)
        texture = rng.integers(96, 200, size=(h, w, 3), dtype=np.uint8)
        self._background = cv2.GaussianBlur(texture, (5, 5), 0)

    def zone_hits(self, pose: TruthPose) -> np.ndarray:
        """H×W bool: pixels whose centre ray hits some zone prism."""
        rays = self._rays_cv @ truth_enu_from_cv(pose).T
        origin = np.array([pose.east_m, pose.north_m, pose.up_m])
        hit = np.zeros(len(rays), dtype=bool)
        dz = rays[:, 2]
        for zone in self.zones:
            z0, z1 = zone.ground_up_m, zone.ground_up_m + max(0.0, zone.height_m)
            with np.errstate(divide="ignore", invalid="ignore"):
                ta = (z0 - origin[2]) / dz
                tb = (z1 - origin[2]) / dz
            t_lo = np.minimum(ta, tb)
            t_hi = np.maximum(ta, tb)
            flat = np.abs(dz) < 1e-12
            inside_band = z0 <= origin[2] <= z1
            t_lo = np.where(flat, 0.0 if inside_band else np.inf, t_lo)
            t_hi = np.where(flat, FAR_M if inside_band else -np.inf, t_hi)
            t_lo = np.maximum(t_lo, 0.0)
            t_hi = np.minimum(t_hi, FAR_M)
            candidates = np.nonzero(t_hi >= t_lo)[0]
            if len(candidates) == 0:
                continue
            start = origin + rays[candidates] * t_lo[candidates, None]
            end = origin + rays[candidates] * t_hi[candidates, None]
            if z1 == z0:
                hit[candidates] |= shapely.contains_xy(zone.polygon, start[:, 0], start[:, 1])
                continue
            inside = shapely.contains_xy(zone.polygon, start[:, 0], start[:, 1])
            inside |= shapely.contains_xy(zone.polygon, end[:, 0], end[:, 1])
            hit[candidates] |= inside | _crosses_ring(start[:, :2], end[:, :2], zone.polygon)
        if self.keep_inside is not None:  # everything but ground inside the area is "private"
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (self.keep_up_m - origin[2]) / dz
            ground = np.isfinite(t) & (t > 0)
            ge = origin[0] + rays[:, 0] * np.where(ground, t, 0.0)
            gn = origin[1] + rays[:, 1] * np.where(ground, t, 0.0)
            inside = ground & shapely.contains_xy(self.keep_inside, ge, gn)
            hit |= ~inside
        return hit.reshape(self.camera.height_px, self.camera.width_px)

    def render(self, pose: TruthPose) -> np.ndarray:
        frame = self._background.copy()
        frame[self.zone_hits(pose)] = RESERVED_BGR
        return frame


def _crosses_ring(a: np.ndarray, b: np.ndarray, polygon) -> np.ndarray:
    """Which 2-D segments a→b cross an edge of the polygon's exterior ring."""
    ring = np.asarray(polygon.exterior.coords)
    crossed = np.zeros(len(a), dtype=bool)
    d = b - a
    for p, q in zip(ring[:-1], ring[1:]):
        e = q - p
        denom = d[:, 0] * e[1] - d[:, 1] * e[0]
        w = p - a
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (w[:, 0] * e[1] - w[:, 1] * e[0]) / denom
            s = (w[:, 0] * d[:, 1] - w[:, 1] * d[:, 0]) / denom
        crossed |= (denom != 0) & (t >= 0) & (t <= 1) & (s >= 0) & (s <= 1)
    return crossed


def reserved_pixels(frame: np.ndarray) -> int:
    """Pixels exactly of the reserved colour."""
    return int(np.count_nonzero(np.all(frame == np.array(RESERVED_BGR, np.uint8), axis=2)))


def near_reserved_pixels(frame: np.ndarray) -> int:
    """Pixels anywhere near the reserved colour (for decoded, lossy video): strong blue and red,
    weak green. The test background never comes near it (all channels 96..200)."""
    b, g, r = (frame[:, :, i].astype(np.int16) for i in range(3))
    return int(np.count_nonzero((b >= 200) & (r >= 200) & (g <= 80)))


def telemetry(
    pose: TruthPose,
    frame: FlatEarthFrame,
    time_boot_ms: int,
    *,
    yaw_in_vehicle_frame: bool = True,
    vel_enu_mps: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[mavlink.MAVLink_message]:
    """GLOBAL_POSITION_INT, ATTITUDE and GIMBAL_DEVICE_ATTITUDE_STATUS for a pose."""
    mav = mavlink.MAVLink(None)
    lat, lon = frame.to_geo(pose.east_m, pose.north_m)
    r = math.radians
    position = mav.global_position_int_encode(
        time_boot_ms, round(lat * 1e7), round(lon * 1e7), round(pose.up_m * 1000),
        round(pose.up_m * 1000), round(vel_enu_mps[1] * 100), round(vel_enu_mps[0] * 100),
        round(-vel_enu_mps[2] * 100), round((pose.yaw_deg % 360) * 100),
    )
    attitude = mav.attitude_encode(
        time_boot_ms, r(pose.roll_deg), r(pose.pitch_deg), r(_wrap(pose.yaw_deg)), 0.0, 0.0, 0.0
    )
    gimbal_yaw = pose.gimbal_yaw_deg if yaw_in_vehicle_frame else pose.yaw_deg + pose.gimbal_yaw_deg
    q = _quat(r(pose.gimbal_roll_deg), r(pose.gimbal_pitch_deg), r(gimbal_yaw))
    flags = 3 | (32 if yaw_in_vehicle_frame else 64)  # ROLL_LOCK|PITCH_LOCK + yaw frame
    nan = float("nan")
    gimbal = mav.gimbal_device_attitude_status_encode(
        1, 154, time_boot_ms, flags, q, nan, nan, nan, 0, nan, nan, 1
    )
    return [position, attitude, gimbal]


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _quat(roll: float, pitch: float, yaw: float) -> list[float]:
    """(w, x, y, z) of Rz(yaw) Ry(pitch) Rx(roll), from the matrix (largest-component method)."""
    m = _rz(yaw) @ _ry(pitch) @ _rx(roll)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    k = int(np.argmax([trace, m[0, 0], m[1, 1], m[2, 2]]))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        return [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    if k == 1:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        return [(m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    if k == 2:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        return [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s]
    s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
    return [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4]
