"""Camera model (intrinsics, OpenCV convention) and how the camera is mounted on the aircraft.

``CameraModel`` holds the image size, the intrinsic matrix ``K`` and OpenCV distortion
coefficients (k1, k2, p1, p2[, k3…]). Build it from a horizontal field of view
(``fx = (W/2) / tan(HFOV/2)``, square pixels, principal point at the centre) or from a calibration.

``view_limits`` is the half-extent of the image in normalised (undistorted) camera coordinates,
found by undistorting the image border (pixel edges, -0.5 .. W-0.5). Privacy masking clips zones
to that frustum widened by ``pad_limit``, the largest mask padding allowed (1.0 normalised units
for a pinhole, 20 % of the view for a lens with distortion), so lens distortion is only ever
evaluated where it is checked to be monotonic (construction fails otherwise).
``pixel_gain`` bounds how many pixels one unit of normalised-coordinate shift moves a projected
point anywhere inside that frustum (``fx`` for a pinhole; more for barrel distortion at the edges);
pose-uncertainty padding uses it.

A mount says where the camera's orientation comes from: ``GimbalMount`` (the gimbal's
``GIMBAL_DEVICE_ATTITUDE_STATUS``) or ``FixedMount`` (vehicle ``ATTITUDE`` rotated by a fixed
offset; pitch −90° looks straight down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

PINHOLE_PAD_LIMIT = 1.0
DISTORTED_PAD_FRACTION = 0.2


@dataclass(frozen=True, slots=True, eq=False)
class CameraModel:
    """Image size plus OpenCV intrinsics; construct with ``from_hfov`` or ``from_calibration``."""

    width_px: int
    height_px: int
    matrix: np.ndarray
    distortion: np.ndarray
    view_limits: tuple[float, float] = field(default=(0.0, 0.0))
    pad_limit: float = 0.0
    pixel_gain: float = 0.0
    has_distortion: bool = False

    @classmethod
    def from_hfov(cls, width_px: int, height_px: int, hfov_deg: float) -> CameraModel:
        if not 1.0 <= hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg {hfov_deg} outside 1..170")
        fx = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        cx, cy = (width_px - 1) / 2.0, (height_px - 1) / 2.0  # OpenCV: pixel centres are integers
        matrix = np.array([[fx, 0.0, cx], [0.0, fx, cy], [0.0, 0.0, 1.0]])
        return cls.from_calibration(width_px, height_px, matrix, np.zeros(5))

    @classmethod
    def from_calibration(
        cls, width_px: int, height_px: int, matrix: np.ndarray, distortion: np.ndarray
    ) -> CameraModel:
        matrix = np.asarray(matrix, dtype=float).reshape(3, 3)
        distortion = np.asarray(distortion, dtype=float).ravel()
        if width_px < 16 or height_px < 16:
            raise ValueError(f"resolution {width_px}x{height_px} too small")
        if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or not np.all(np.isfinite(matrix)):
            raise ValueError("camera matrix must have positive finite fx, fy")
        if distortion.size not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(distortion)):
            raise ValueError("distortion must have 4, 5, 8, 12 or 14 finite coefficients")
        limits = _view_limits(width_px, height_px, matrix, distortion)
        distorted = bool(np.any(distortion != 0.0))
        if distorted:
            pad_limit = DISTORTED_PAD_FRACTION * max(limits)
        else:
            pad_limit = PINHOLE_PAD_LIMIT
        clip = (limits[0] * 1.02 + pad_limit, limits[1] * 1.02 + pad_limit)
        gain = _pixel_gain(matrix, distortion, clip)
        return cls(width_px, height_px, matrix, distortion, limits, pad_limit, gain, distorted)


    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.view_limits[0]))

    def project(self, points_cv: np.ndarray) -> np.ndarray:
        """Project N×3 points in OpenCV camera axes (z > 0) to N×2 pixel coordinates."""
        points = np.ascontiguousarray(points_cv, dtype=float).reshape(-1, 1, 3)
        if not self.has_distortion:
            z = points[:, 0, 2:3]
            uv = points[:, 0, :2] / z
            return uv * np.array([self.matrix[0, 0], self.matrix[1, 1]]) + self.matrix[:2, 2]
        zero = np.zeros(3)
        pixels, _ = cv2.projectPoints(points, zero, zero, self.matrix, self.distortion)
        return pixels.reshape(-1, 2)


def _view_limits(
    width_px: int, height_px: int, matrix: np.ndarray, distortion: np.ndarray
) -> tuple[float, float]:
    """Half-extents (x, y) of the image border in normalised undistorted coordinates."""
    xs = np.linspace(-0.5, width_px - 0.5, 33)
    ys = np.linspace(-0.5, height_px - 0.5, 33)
    border = np.concatenate(
        [
            np.stack([xs, np.full_like(xs, -0.5)], 1),
            np.stack([xs, np.full_like(xs, height_px - 0.5)], 1),
            np.stack([np.full_like(ys, -0.5), ys], 1),
            np.stack([np.full_like(ys, width_px - 0.5), ys], 1),
        ]
    ).reshape(-1, 1, 2)
    normalised = cv2.undistortPoints(border, matrix, distortion).reshape(-1, 2)
    if not np.all(np.isfinite(normalised)):
        raise ValueError("calibration cannot be inverted at the image border")
    return float(np.max(np.abs(normalised[:, 0]))), float(np.max(np.abs(normalised[:, 1])))


def _pixel_gain(matrix: np.ndarray, distortion: np.ndarray, clip: tuple[float, float]) -> float:
    """Largest pixels-per-normalised-unit over the clipping frustum (numerical Jacobian bound).

    Raises ValueError if the distortion folds over (a step outwards moves a point inwards)
    anywhere in the frustum: projecting there could put a zone in the wrong place.
    """
    f_max = float(max(matrix[0, 0], matrix[1, 1]))
    if not np.any(distortion != 0.0):
        return f_max
    lx, ly = clip
    gx, gy = np.meshgrid(np.linspace(-lx, lx, 41), np.linspace(-ly, ly, 41))
    base = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], 1)
    step = 1e-4
    zero = np.zeros(3)

    def proj(points: np.ndarray) -> np.ndarray:
        out, _ = cv2.projectPoints(points.reshape(-1, 1, 3), zero, zero, matrix, distortion)
        return out.reshape(-1, 2)

    p0 = proj(base)
    gain = f_max
    for axis in (0, 1):
        moved = base.copy()
        moved[:, axis] += step
        derivative = (proj(moved) - p0) / step
        if float(np.min(derivative[:, axis])) <= 0.0:
            raise ValueError("lens distortion folds over within the clipping frustum")
        gain = max(gain, float(np.max(np.linalg.norm(derivative, axis=1))))
    return gain


@dataclass(frozen=True, slots=True)
class GimbalMount:
    """Camera on a gimbal that reports GIMBAL_DEVICE_ATTITUDE_STATUS (``device_id`` 0 = any)."""

    device_id: int = 0


@dataclass(frozen=True, slots=True)
class FixedMount:
    """Camera fixed to the airframe, rotated from the body axes by these angles (ZYX)."""

    roll_deg: float = 0.0
    pitch_deg: float = -90.0
    yaw_deg: float = 0.0


Mount = GimbalMount | FixedMount
