"""Rotations for camera pose: quaternions (w, x, y, z), Euler angles and frame conventions.

Conventions (MAVLink / ArduPilot, see domain.md 5.2):

* Earth frame NED (north, east, down), body and gimbal frames FRD (forward, right, down).
  ``ATTITUDE`` roll/pitch/yaw are ZYX intrinsic: ``R_ned_body = Rz(yaw) @ Ry(pitch) @ Rx(roll)``.
* Quaternions are (w, x, y, z) and rotate a body vector into the earth frame, like MAVLink's
  ``GIMBAL_DEVICE_ATTITUDE_STATUS.q``.
* The project's local metric frame is ENU (east, north, up) with origin at home.
* OpenCV camera axes: x right, y down, z forward; from the camera's FRD frame
  ``x_cv = y_frd, y_cv = z_frd, z_cv = x_frd``.
"""

from __future__ import annotations

import math

import numpy as np

# Rows map an ENU vector to NED: (n, e, d) = (north, east, -up).
NED_FROM_ENU = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
# Rows map an FRD vector to OpenCV camera axes (right, down, forward).
CV_FROM_FRD = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def quat_from_euler(roll_rad: float, pitch_rad: float, yaw_rad: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of the ZYX intrinsic rotation Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr = math.cos(roll_rad / 2), math.sin(roll_rad / 2)
    cp, sp = math.cos(pitch_rad / 2), math.sin(pitch_rad / 2)
    cy, sy = math.cos(yaw_rad / 2), math.sin(yaw_rad / 2)
    return np.array(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ]
    )


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b (apply b first, then a)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_normalised(q: np.ndarray) -> np.ndarray:
    """Unit quaternion, raising ValueError for a zero or non-finite one."""
    norm = float(np.linalg.norm(q))
    if not math.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {q!r} cannot be normalised")
    return np.asarray(q, dtype=float) / norm


def quat_slerp(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical linear interpolation between unit quaternions (shortest arc)."""
    dot = float(np.dot(a, b))
    if dot < 0.0:
        b, dot = -b, -dot
    if dot > 0.9995:
        return quat_normalised(a + fraction * (b - a))
    theta = math.acos(min(1.0, dot))
    sin_theta = math.sin(theta)
    return (math.sin((1 - fraction) * theta) * a + math.sin(fraction * theta) * b) / sin_theta


def quat_angle_rad(a: np.ndarray, b: np.ndarray) -> float:
    """Rotation angle between two unit quaternions."""
    return 2.0 * math.acos(min(1.0, abs(float(np.dot(a, b)))))


def quat_yaw_rad(q: np.ndarray) -> float:
    """Yaw (heading) of the ZYX decomposition of q."""
    w, x, y, z = q
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """3×3 rotation matrix of a unit quaternion (body → earth)."""
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def cv_from_enu(q_ned_cam: np.ndarray) -> np.ndarray:
    """Rotation taking an ENU vector into OpenCV camera axes, given the camera's FRD attitude."""
    r_ned_cam = matrix_from_quat(q_ned_cam)
    return CV_FROM_FRD @ r_ned_cam.T @ NED_FROM_ENU
