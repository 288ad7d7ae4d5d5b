"""Camera pose per frame, interpolated from MAVLink telemetry on the vehicle clock.

Theory of operation
-------------------
Telemetry arrives as pymavlink messages; ``pose_sample`` turns the three kinds capture uses into
``PoseSample`` dataclasses stamped with the vehicle's ``time_boot_ms``:

* ``PositionSample`` from GLOBAL_POSITION_INT (lat/lon, altitude above home, NED velocity);
* ``AttitudeSample`` from ATTITUDE (vehicle roll/pitch/yaw and body rates);
* ``GimbalSample`` from GIMBAL_DEVICE_ATTITUDE_STATUS (quaternion and yaw-frame flags).

``PoseTrack`` keeps a few seconds of each stream. ``PoseTrack.at(time_boot_ms)`` interpolates every
stream the mount needs to the frame time (position linearly, attitudes by slerp) and composes the
camera's earth attitude:

* gimbal, yaw in the earth frame (flag YAW_IN_EARTH_FRAME, or neither frame flag and YAW_LOCK):
  the gimbal quaternion as is;
* gimbal, yaw in the vehicle frame (flag YAW_IN_VEHICLE_FRAME, or no flag at all, as older
  ArduPilot mounts send it: roll/pitch earth-referenced, yaw relative to the heading):
  ``q_earth = q_z(vehicle_yaw) ⊗ q_gimbal``;
* fixed mount: ``q_earth = q_vehicle ⊗ q_offset``.

The pose's angular rate is the fastest turn seen between consecutive samples (of the vehicle and,
for a gimbal, of the gimbal) within ``max_age_s`` + 0.25 s of the frame time, or the rates the
messages report if larger: masking pads by rate × (timing skew + age), so a slewing gimbal gets a
wider mask even when the frame time coincides with a sample.

The *age* of a pose is how far the frame time is from the nearest telemetry sample of the stalest
stream it used. A stream with no sample within ``max_age_s`` of the frame time makes the pose
**unknown** (``PoseEstimate.pose is None`` with a reason), and masking then fails closed. A reboot of
the vehicle (time_boot_ms going back by more than 2 s) clears the track.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drone_agent.capture.camera import FixedMount, GimbalMount, Mount
from drone_agent.capture.rotation import (
    cv_from_enu,
    quat_angle_rad,
    quat_from_euler,
    quat_multiply,
    quat_normalised,
    quat_slerp,
    quat_yaw_rad,
)

GIMBAL_FLAG_YAW_LOCK = 16
GIMBAL_FLAG_YAW_IN_VEHICLE_FRAME = 32
GIMBAL_FLAG_YAW_IN_EARTH_FRAME = 64

RATE_WINDOW_S = 0.25  # angular rate: the fastest turn between samples this near the frame time
REBOOT_BACKSTEP_MS = 2000  # time_boot_ms going back further than this means the vehicle rebooted

LocalProjector = Callable[[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class PositionSample:
    time_boot_ms: int
    lat_deg: float
    lon_deg: float
    alt_rel_home_m: float
    vel_north_mps: float
    vel_east_mps: float
    vel_down_mps: float


@dataclass(frozen=True, slots=True)
class AttitudeSample:
    time_boot_ms: int
    roll_rad: float
    pitch_rad: float
    yaw_rad: float
    rate_rps: float


@dataclass(frozen=True, slots=True)
class GimbalSample:
    time_boot_ms: int
    q_wxyz: tuple[float, float, float, float]
    flags: int
    device_id: int
    rate_rps: float

    @property
    def yaw_in_earth_frame(self) -> bool:
        if self.flags & GIMBAL_FLAG_YAW_IN_EARTH_FRAME:
            return True
        if self.flags & GIMBAL_FLAG_YAW_IN_VEHICLE_FRAME:
            return False
        return bool(self.flags & GIMBAL_FLAG_YAW_LOCK)


PoseSample = PositionSample | AttitudeSample | GimbalSample


def pose_sample(msg: Any) -> PoseSample | None:
    """The PoseSample for a pymavlink message, or None for any other message type."""
    kind = msg.get_type()
    if kind == "GLOBAL_POSITION_INT":
        if msg.lat == 0 and msg.lon == 0:
            return None  # ArduPilot sends zeros until the EKF has an origin: no position yet
        return PositionSample(
            int(msg.time_boot_ms),
            msg.lat / 1e7,
            msg.lon / 1e7,
            msg.relative_alt / 1000.0,
            msg.vx / 100.0,
            msg.vy / 100.0,
            msg.vz / 100.0,
        )
    if kind == "ATTITUDE":
        rate = math.sqrt(msg.rollspeed**2 + msg.pitchspeed**2 + msg.yawspeed**2)
        return AttitudeSample(int(msg.time_boot_ms), msg.roll, msg.pitch, msg.yaw, rate)
    if kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
        rates = (msg.angular_velocity_x, msg.angular_velocity_y, msg.angular_velocity_z)
        rate = math.sqrt(sum(r * r for r in rates)) if all(math.isfinite(r) for r in rates) else 0.0
        q = tuple(float(v) for v in msg.q)
        if not all(math.isfinite(v) for v in q) or sum(v * v for v in q) < 1e-6:
            return None
        return GimbalSample(
            int(msg.time_boot_ms), q, int(msg.flags), int(getattr(msg, "gimbal_device_id", 0)), rate
        )
    return None


@dataclass(frozen=True, slots=True, eq=False)
class CameraPose:
    """Camera position (local ENU metres) and orientation at one frame time."""

    time_boot_ms: int
    position_enu_m: np.ndarray
    q_ned_cam: np.ndarray
    speed_mps: float
    angular_rate_rps: float
    age_s: float
    cv_from_enu: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cv_from_enu", cv_from_enu(self.q_ned_cam))


@dataclass(frozen=True, slots=True, eq=False)
class PoseEstimate:
    """A camera pose, or None and why it is unknown."""

    pose: CameraPose | None
    reason: str = ""


class _Stream:
    """Time-ordered samples of one kind, trimmed to a history window."""

    def __init__(self, history_ms: int) -> None:
        self.history_ms = history_ms
        self.times: list[int] = []
        self.samples: list[Any] = []

    def add(self, sample: Any) -> bool:
        """Append in time order; returns False if time went back by more than a reboot step."""
        t = sample.time_boot_ms
        if self.times and t < self.times[-1] - REBOOT_BACKSTEP_MS:
            return False
        index = bisect.bisect_right(self.times, t)
        if index and self.times[index - 1] == t:
            self.samples[index - 1] = sample
            return True
        self.times.insert(index, t)
        self.samples.insert(index, sample)
        cut = bisect.bisect_left(self.times, self.times[-1] - self.history_ms)
        if cut:
            del self.times[:cut], self.samples[:cut]
        return True

    def clear(self) -> None:
        self.times.clear()
        self.samples.clear()

    def around(self, t_ms: int, window_ms: int) -> list[Any]:
        """Samples within ``window_ms`` of t, plus the nearest one on each side."""
        lo = max(0, bisect.bisect_left(self.times, t_ms - window_ms) - 1)
        hi = bisect.bisect_right(self.times, t_ms + window_ms) + 1
        return self.samples[lo:hi]

    def bracket(self, t_ms: int) -> tuple[Any, Any, float, float] | None:
        """(before, after, fraction, age_s) around t, or None when there are no samples."""
        if not self.times:
            return None
        i = bisect.bisect_left(self.times, t_ms)
        if i < len(self.times) and self.times[i] == t_ms:
            s = self.samples[i]
            return s, s, 0.0, 0.0
        if i == 0:
            s = self.samples[0]
            return s, s, 0.0, (self.times[0] - t_ms) / 1000.0
        if i == len(self.times):
            s = self.samples[-1]
            return s, s, 0.0, (t_ms - self.times[-1]) / 1000.0
        t0, t1 = self.times[i - 1], self.times[i]
        frac = (t_ms - t0) / (t1 - t0)
        return self.samples[i - 1], self.samples[i], frac, min(t_ms - t0, t1 - t_ms) / 1000.0


class PoseTrack:
    """Recent telemetry for one camera; ``at(time_boot_ms)`` gives the camera pose or why not."""

    def __init__(
        self,
        mount: Mount,
        to_local: LocalProjector,
        *,
        max_age_s: float = 0.5,
        history_s: float = 5.0,
    ) -> None:
        self.mount = mount
        self.to_local = to_local
        self.max_age_s = max_age_s
        history_ms = int(history_s * 1000)
        self._position = _Stream(history_ms)
        self._attitude = _Stream(history_ms)
        self._gimbal = _Stream(history_ms)

    def add(self, sample: PoseSample) -> None:
        if isinstance(sample, PositionSample):
            stream = self._position
        elif isinstance(sample, AttitudeSample):
            stream = self._attitude
        else:
            if self.mount.__class__ is not GimbalMount:
                return
            if self.mount.device_id and sample.device_id not in (0, self.mount.device_id):
                return
            stream = self._gimbal
        if not stream.add(sample):  # vehicle rebooted: start again
            for s in (self._position, self._attitude, self._gimbal):
                s.clear()
            stream.add(sample)

    def add_message(self, msg: Any) -> None:
        """Feed any pymavlink message; the ones capture does not use are ignored."""
        sample = pose_sample(msg)
        if sample is not None:
            self.add(sample)

    def at(self, time_boot_ms: int) -> PoseEstimate:
        pos = self._position.bracket(time_boot_ms)
        att = self._attitude.bracket(time_boot_ms)
        if pos is None:
            return PoseEstimate(None, "no GLOBAL_POSITION_INT received")
        if att is None:
            return PoseEstimate(None, "no ATTITUDE received")
        ages = {"GLOBAL_POSITION_INT": pos[3], "ATTITUDE": att[3]}
        gim = None
        if isinstance(self.mount, GimbalMount):
            gim = self._gimbal.bracket(time_boot_ms)
            if gim is None:
                return PoseEstimate(None, "no GIMBAL_DEVICE_ATTITUDE_STATUS received")
            ages["GIMBAL_DEVICE_ATTITUDE_STATUS"] = gim[3]
        stalest = max(ages, key=ages.__getitem__)
        if ages[stalest] > self.max_age_s:
            return PoseEstimate(
                None, f"{stalest} {ages[stalest]:.2f} s from frame time (limit {self.max_age_s} s)"
            )
        p0, p1, f, _ = pos
        east0, north0 = self.to_local(p0.lat_deg, p0.lon_deg)
        east1, north1 = self.to_local(p1.lat_deg, p1.lon_deg)
        position = np.array(
            [
                east0 + f * (east1 - east0),
                north0 + f * (north1 - north0),
                p0.alt_rel_home_m + f * (p1.alt_rel_home_m - p0.alt_rel_home_m),
            ]
        )
        speed = max(
            math.sqrt(p.vel_north_mps**2 + p.vel_east_mps**2 + p.vel_down_mps**2) for p in (p0, p1)
        )
        a0, a1, fa, _ = att
        qa0 = quat_from_euler(a0.roll_rad, a0.pitch_rad, a0.yaw_rad)
        qa1 = quat_from_euler(a1.roll_rad, a1.pitch_rad, a1.yaw_rad)
        q_vehicle = quat_slerp(qa0, qa1, fa)
        window_ms = int((self.max_age_s + RATE_WINDOW_S) * 1000)
        around = self._attitude.around(time_boot_ms, window_ms)
        rate = max(max(a.rate_rps for a in around), _max_rate(around, _attitude_quat))
        if isinstance(self.mount, FixedMount):
            offset = quat_from_euler(
                math.radians(self.mount.roll_deg),
                math.radians(self.mount.pitch_deg),
                math.radians(self.mount.yaw_deg),
            )
            q_cam = quat_multiply(q_vehicle, offset)
        else:
            assert gim is not None
            g0, g1, fg, _ = gim
            try:
                qg0, qg1 = quat_normalised(np.array(g0.q_wxyz)), quat_normalised(np.array(g1.q_wxyz))
            except ValueError as exc:
                return PoseEstimate(None, f"gimbal attitude unusable: {exc}")
            q_gimbal = quat_slerp(qg0, qg1, fg)
            around = self._gimbal.around(time_boot_ms, window_ms)
            rate = max(rate, max(g.rate_rps for g in around), _max_rate(around, _gimbal_quat))
            if g1.yaw_in_earth_frame:
                q_cam = q_gimbal
            else:
                yaw = quat_yaw_rad(q_vehicle)
                q_cam = quat_multiply(quat_from_euler(0.0, 0.0, yaw), q_gimbal)
                rate += a1.rate_rps
        pose = CameraPose(
            time_boot_ms=time_boot_ms,
            position_enu_m=position,
            q_ned_cam=quat_normalised(q_cam),
            speed_mps=speed,
            angular_rate_rps=rate,
            age_s=ages[stalest],
        )
        return PoseEstimate(pose)


def _attitude_quat(sample: AttitudeSample) -> np.ndarray:
    return quat_from_euler(sample.roll_rad, sample.pitch_rad, sample.yaw_rad)


def _gimbal_quat(sample: GimbalSample) -> np.ndarray:
    return quat_normalised(np.array(sample.q_wxyz))


def _max_rate(samples: list[Any], to_quat: Callable[[Any], np.ndarray]) -> float:
    """Largest angular rate between consecutive samples (0 for fewer than two)."""
    rate = 0.0
    quats = [to_quat(s) for s in samples]
    for (s0, q0), (s1, q1) in zip(zip(samples, quats), zip(samples[1:], quats[1:])):
        dt = (s1.time_boot_ms - s0.time_boot_ms) / 1000.0
        if dt > 0:
            rate = max(rate, quat_angle_rad(q0, q1) / dt)
    return rate
