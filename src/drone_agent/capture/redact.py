"""Post-hoc privacy masking of footage recorded elsewhere (``drone-agent redact``).

The same projection and masking code as live recording, fed from files:

1. The flight's telemetry log (pymavlink .tlog: 8-byte big-endian µs since the Unix epoch before
   every packet) gives the pose samples (GLOBAL_POSITION_INT, ATTITUDE, GIMBAL_DEVICE_ATTITUDE_STATUS)
   and, from the record time of each vehicle message against its ``time_boot_ms``, the mapping from
   UTC to the vehicle clock (``BootTimeEstimator``: the least-delayed message wins). Home is the
   first HOME_POSITION, else the first GLOBAL_POSITION_INT less its relative altitude.
2. A video frame at presentation time ``t`` was captured at
   ``UTC = video_start + t + time_offset_s``, where ``video_start`` is the container's
   ``creation_time`` tag when present, else the first record of the telemetry log.
3. Zones come from the GeoJSON files through geofence's loader (``load_zone_file``); the
   ``privacy`` ones are put into the local frame about home (circles as covering 64-gons). An
   operation area is needed only when the camera file sets ``mask_outside_area``.
4. Each frame is masked (failing closed exactly as in flight) and re-encoded to H.264 in a
   fragmented MP4 written to ``OUT.partial`` and renamed to ``OUT`` when complete.

If not one frame could be placed on the telemetry (all poses unknown), the times do not overlap:
the output is removed and an InputError says to check ``--time-offset``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av
from pymavlink import mavutil
from shapely.geometry import MultiPolygon, Polygon

from drone_agent.capture.camera import Mount
from drone_agent.capture.encoder import EncoderSettings, SegmentEncoder
from drone_agent.capture.pose import PoseTrack, pose_sample
from drone_agent.capture.privacy import PrivacyMasker
from drone_agent.capture.sources import BootTimeEstimator
from drone_agent.errors import InputError

TIMED_TYPES = ("GLOBAL_POSITION_INT", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS", "HOME_POSITION")
WHOLE_FLIGHT_S = 1e9


@dataclass(frozen=True, slots=True)
class Home:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(slots=True)
class FlightTelemetry:
    """What redact needs from a telemetry log."""

    samples: list[Any] = field(default_factory=list)
    clock: BootTimeEstimator = field(default_factory=lambda: BootTimeEstimator(window=None))
    home: Home | None = None
    first_utc: datetime | None = None

    def track(self, mount: Mount, to_local, max_age_s: float) -> PoseTrack:
        track = PoseTrack(mount, to_local, max_age_s=max_age_s, history_s=WHOLE_FLIGHT_S)
        for sample in self.samples:
            track.add(sample)
        return track


def read_tlog(path: Path) -> FlightTelemetry:
    """Pose samples, the UTC→boot clock and home from a .tlog; InputError if unusable."""
    if not path.is_file():
        raise InputError(f"{path}: no such telemetry log", "give the flight's .tlog file")
    out = FlightTelemetry()
    log = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
    try:
        while True:
            msg = log.recv_match(type=list(TIMED_TYPES))
            if msg is None:
                break
            record_s = float(msg._timestamp)
            if out.first_utc is None:
                out.first_utc = datetime.fromtimestamp(record_s, timezone.utc)
            kind = msg.get_type()
            if kind == "HOME_POSITION":
                if out.home is None and (msg.latitude or msg.longitude):
                    out.home = Home(msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)
                continue
            if kind != "GIMBAL_DEVICE_ATTITUDE_STATUS" and msg.get_srcComponent() != 1:
                continue  # vehicle state comes from the autopilot
            sample = pose_sample(msg)
            if sample is None:
                continue
            out.samples.append(sample)
            out.clock.observe(sample.time_boot_ms, record_s)
            if out.home is None and kind == "GLOBAL_POSITION_INT":
                out.home = Home(msg.lat / 1e7, msg.lon / 1e7, (msg.alt - msg.relative_alt) / 1000.0)
    finally:
        log.close()
    if not out.samples or out.home is None:
        raise InputError(
            f"{path}: no GLOBAL_POSITION_INT/ATTITUDE telemetry found",
            "give the MAVLink telemetry log (.tlog) of the flight that recorded the video",
        )
    return out


def zones_from_files(
    paths: list[Path], frame: Any, kind: str = "privacy"
) -> tuple[tuple[str, Polygon, float, float], ...]:
    """(name, local polygon, floor_m, ceiling_m) for every zone of ``kind`` in the files, like
    ``fence.privacy_zones_local()``; ``frame`` is a geofence LocalFrame about home. Circles become
    covering 64-gons for privacy zones and inscribed ones for an operation area (both err on
    the side of masking)."""
    from drone_agent.geofence import load_zone_file
    from drone_agent.geofence.fence import circle_polygon

    out: list[tuple[str, Polygon, float, float]] = []
    for path in paths:
        for zone in load_zone_file(path):
            if zone.kind != kind:
                continue
            if zone.radius_m is not None:
                centre = frame.to_local(zone.geometry.y, zone.geometry.x)
                local: Any = circle_polygon(centre, zone.radius_m, kind == "privacy")
            else:
                local = frame.geometry_to_local(zone.geometry)
            parts = list(local.geoms) if isinstance(local, MultiPolygon) else [local]
            floor = zone.floor_m or 0.0
            ceiling = zone.ceiling_m if zone.ceiling_m is not None else float("inf")
            out.extend((zone.name, part, floor, ceiling) for part in parts)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RedactReport:
    frames: int
    full_frame_masked: int
    reasons: tuple[tuple[str, int], ...]
    zones: tuple[str, ...]
    video_start_utc: str
    out: str


def _creation_time(container: Any) -> datetime | None:
    text = container.metadata.get("creation_time")
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def redact_video(
    video: Path,
    out: Path,
    telemetry: FlightTelemetry,
    track: PoseTrack,
    masker: PrivacyMasker,
    settings: EncoderSettings,
    time_offset_s: float = 0.0,
) -> RedactReport:
    """Mask every frame of ``video`` and write ``out`` (see the module docstring)."""
    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(
            f"{video}: cannot open as video: {exc}", "give a video file FFmpeg can read"
        ) from exc
    partial = out.with_name(out.name + ".partial")
    frames = full = 0
    reasons: Counter[str] = Counter()
    zones: list[str] = []
    try:
        if not container.streams.video:
            raise InputError(f"{video}: no video stream", "give a video file")
        start = _creation_time(container) or telemetry.first_utc
        assert start is not None
        encoder: SegmentEncoder | None = None
        with partial.open("wb") as handle:
            for frame in container.decode(video=0):
                t_s = float(frame.time or 0.0)
                utc = start + timedelta(seconds=t_s + time_offset_s)
                boot_ms = telemetry.clock.to_boot_ms(utc.timestamp())
                image = frame.to_ndarray(format="bgr24")
                if frames == 0 and image.shape[:2] != (masker.camera.height_px, masker.camera.width_px):
                    raise InputError(
                        f"{video}: frames are {image.shape[1]}x{image.shape[0]} but the camera file "
                        f"says {masker.camera.width_px}x{masker.camera.height_px}",
                        "give the [camera] resolution (and calibration) of the camera that shot it",
                    )
                result = masker.apply(image, track.at(boot_ms))
                if encoder is None:
                    height, width = image.shape[:2]
                    encoder = SegmentEncoder(width - width % 2, height - height % 2, settings, handle)
                encoder.add(image[: encoder.height_px, : encoder.width_px], round(t_s * 1000))
                frames += 1
                if result.full_frame:
                    full += 1
                    reasons[result.reason.split(":")[0]] += 1
                zones.extend(z for z in result.zones if z not in zones)
            if encoder is not None:
                encoder.close()
        if frames == 0:
            raise InputError(f"{video}: no frames decoded", "check the video file")
        unknown = sum(n for reason, n in reasons.items() if reason == "pose unknown")
        if unknown == frames:
            raise InputError(
                f"{video}: no frame falls within the telemetry of the log (video start "
                f"{start.isoformat()})",
                "check that the log belongs to this video and set --time-offset SECONDS",
            )
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        container.close()
    return RedactReport(
        frames, full, tuple(reasons.most_common()), tuple(zones), start.isoformat(), str(out)
    )
