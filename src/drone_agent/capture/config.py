"""The ``[camera]`` and ``[trigger]`` sections of the operation profile, validated.

Geofence keeps these sections as raw tables (``Operation.sections``); this module turns them into
frozen settings and raises InputError naming the file, section and key for anything unknown,
mistyped or out of range.

``[camera]`` keys (defaults in brackets)::

    source = "0"                  # OpenCV device index, video file, rtsp:// / udp:// URL, or "sim"
    width_px = 1920               # required
    height_px = 1080              # required
    hfov_deg = 82.0               # either this ...
    matrix = [[fx,0,cx],[0,fy,cy],[0,0,1]]   # ... or a calibration (OpenCV convention)
    distortion = [k1,k2,p1,p2,k3]            #     with its distortion coefficients [zeros]
    fps = 30.0
    mount = "gimbal"              # "gimbal" (GIMBAL_DEVICE_ATTITUDE_STATUS) or "fixed" (ATTITUDE)
    gimbal_device_id = 0          # 0 = any gimbal
    mount_roll_deg = 0.0          # fixed mount offset from the body axes
    mount_pitch_deg = -90.0
    mount_yaw_deg = 0.0
    segment_s = 4.0               # segment length
    crf = 23                      # H.264 quality
    preset = "ultrafast"          # libx264 preset
    pose_max_age_s = 0.5          # telemetry older than this → pose unknown → frame black
    attitude_error_deg = 1.5      # mask padding budget (see privacy.py)
    position_error_m = 3.0
    timing_skew_s = 0.05
    horizon_margin_deg = 1.0
    structure_height_m = 0.0      # privacy zones extruded by this height
    terrain_up_m = 0.0            # ground height of the zones relative to home
    mask_outside_area = false     # also black out all but the ground inside the operation area
    component_id = 100            # MAVLink camera component id
    stream_uri = ""               # advertised in VIDEO_STREAM_INFORMATION when set

``[trigger]`` keys::

    pilot_key = "r"               # key in `drone-agent fly` that starts/stops recording
    rc_channel = 0                # 0 = no RC switch; 1..18 = RC_CHANNELS channel
    rc_threshold_us = 1700
    rc_active = "high"            # "high" or "low"
    rc_hysteresis_us = 50
    pre_event_s = 0.0             # RAM-only pre-event buffer, 0 (off) .. 120
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drone_agent.capture.camera import CameraModel, FixedMount, GimbalMount, Mount
from drone_agent.capture.encoder import EncoderSettings
from drone_agent.capture.mavcamera import CameraIdentity
from drone_agent.capture.privacy import PoseUncertainty
from drone_agent.capture.trigger import RcSwitchConfig
from drone_agent.errors import InputError

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


@dataclass(frozen=True, slots=True)
class CameraConfig:
    width_px: int
    height_px: int
    hfov_deg: float | None = None
    matrix: tuple[tuple[float, ...], ...] | None = None
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    source: str = "0"
    fps: float = 30.0
    mount: str = "gimbal"
    gimbal_device_id: int = 0
    mount_roll_deg: float = 0.0
    mount_pitch_deg: float = -90.0
    mount_yaw_deg: float = 0.0
    segment_s: float = 4.0
    crf: int = 23
    preset: str = "ultrafast"
    pose_max_age_s: float = 0.5
    attitude_error_deg: float = 1.5
    position_error_m: float = 3.0
    timing_skew_s: float = 0.05
    horizon_margin_deg: float = 1.0
    structure_height_m: float = 0.0
    terrain_up_m: float = 0.0
    mask_outside_area: bool = False
    component_id: int = 100
    stream_uri: str = ""

    def camera_model(self) -> CameraModel:
        if self.matrix is not None:
            return CameraModel.from_calibration(
                self.width_px, self.height_px, np.array(self.matrix), np.array(self.distortion)
            )
        assert self.hfov_deg is not None
        return CameraModel.from_hfov(self.width_px, self.height_px, self.hfov_deg)

    def mount_model(self) -> Mount:
        if self.mount == "fixed":
            return FixedMount(self.mount_roll_deg, self.mount_pitch_deg, self.mount_yaw_deg)
        return GimbalMount(self.gimbal_device_id)

    def uncertainty(self) -> PoseUncertainty:
        return PoseUncertainty(
            self.attitude_error_deg, self.position_error_m, self.timing_skew_s, self.horizon_margin_deg
        )

    def encoder_settings(self) -> EncoderSettings:
        return EncoderSettings(fps=self.fps, preset=self.preset, crf=self.crf)

    def identity(self) -> CameraIdentity:
        model = self.camera_model()
        return CameraIdentity(
            self.width_px, self.height_px, model.hfov_deg, fps=self.fps, stream_uri=self.stream_uri
        )


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    pilot_key: str = "r"
    rc_channel: int = 0
    rc_threshold_us: int = 1700
    rc_active: str = "high"
    rc_hysteresis_us: int = 50
    pre_event_s: float = 0.0

    def rc_switch(self) -> RcSwitchConfig | None:
        if not self.rc_channel:
            return None
        return RcSwitchConfig(
            self.rc_channel, self.rc_threshold_us, self.rc_active == "high", self.rc_hysteresis_us
        )


class _Section:
    """Typed, range-checked access to one TOML table; unknown keys are an error."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        if not isinstance(table, Mapping):
            raise InputError(f"{where} must be a table", "write it as a [section] with key = value lines")
        self.table = dict(table)
        self.where = where
        self.used: set[str] = set()

    def _bad(self, key: str, what: str) -> InputError:
        return InputError(f"{self.where} {key} = {self.table[key]!r}: {what}", f"fix '{key}' in {self.where}")

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self.optional_number(key, lo, hi)
        return default if value is None else value

    def optional_number(self, key: str, lo: float, hi: float) -> float | None:
        self.used.add(key)
        if key not in self.table:
            return None
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._bad(key, "must be a number")
        if not lo <= value <= hi:
            raise self._bad(key, f"must be within {lo}..{hi}")
        return float(value)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "must be a whole number")
        if not lo <= value <= hi:
            raise self._bad(key, f"must be within {lo}..{hi}")
        return value

    def text(self, key: str, default: str, choices: tuple[str, ...] | None = None) -> str:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, int) and not isinstance(value, bool) and key == "source":
            value = str(value)  # `source = 0` means device 0
        if not isinstance(value, str):
            raise self._bad(key, "must be a string")
        if choices and value not in choices:
            raise self._bad(key, f"must be one of {', '.join(choices)}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        self.used.add(key)
        if key not in self.table:
            return default
        if not isinstance(self.table[key], bool):
            raise self._bad(key, "must be true or false")
        return bool(self.table[key])

    def numbers(self, key: str) -> list[Any] | None:
        self.used.add(key)
        if key not in self.table:
            return None
        value = self.table[key]
        if not isinstance(value, list):
            raise self._bad(key, "must be an array")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise InputError(
                f"{self.where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                f"remove or correct them; known keys: {', '.join(sorted(self.used))}",
            )


def _floats(section: _Section, key: str, value: list[Any]) -> tuple[float, ...]:
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise section._bad(key, "must contain only numbers")
        out.append(float(item))
    return tuple(out)


def parse_camera_section(table: Mapping[str, Any], where: str = "[camera]") -> CameraConfig:
    s = _Section(table, where)
    width = s.integer("width_px", 0, 0, 16384)
    height = s.integer("height_px", 0, 0, 16384)
    if "width_px" not in s.table or "height_px" not in s.table:
        raise InputError(f"{where}: width_px and height_px are required", "give the camera's resolution")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise InputError(f"{where}: resolution {width}x{height} invalid", "use even sizes of at least 16")
    hfov = s.optional_number("hfov_deg", 1.0, 170.0)
    raw_matrix = s.numbers("matrix")
    raw_dist = s.numbers("distortion")
    matrix = None
    if raw_matrix is not None:
        if len(raw_matrix) != 3 or not all(isinstance(r, list) and len(r) == 3 for r in raw_matrix):
            raise s._bad("matrix", "must be a 3x3 array [[fx,0,cx],[0,fy,cy],[0,0,1]]")
        matrix = tuple(_floats(s, "matrix", row) for row in raw_matrix)
    if (hfov is None) == (matrix is None):
        raise InputError(
            f"{where}: give exactly one of hfov_deg or matrix",
            "hfov_deg for a simple pinhole model, matrix (+ distortion) for a calibration",
        )
    distortion = (0.0,) * 5
    if raw_dist is not None:
        if matrix is None:
            raise s._bad("distortion", "needs a calibration matrix")
        distortion = _floats(s, "distortion", raw_dist)
    config = CameraConfig(
        width_px=width,
        height_px=height,
        hfov_deg=hfov,
        matrix=matrix,
        distortion=distortion,
        source=s.text("source", "0"),
        fps=s.number("fps", 30.0, 1.0, 240.0),
        mount=s.text("mount", "gimbal", ("gimbal", "fixed")),
        gimbal_device_id=s.integer("gimbal_device_id", 0, 0, 255),
        mount_roll_deg=s.number("mount_roll_deg", 0.0, -180.0, 180.0),
        mount_pitch_deg=s.number("mount_pitch_deg", -90.0, -90.0, 90.0),
        mount_yaw_deg=s.number("mount_yaw_deg", 0.0, -180.0, 180.0),
        segment_s=s.number("segment_s", 4.0, 0.5, 600.0),
        crf=s.integer("crf", 23, 0, 51),
        preset=s.text("preset", "ultrafast", PRESETS),
        pose_max_age_s=s.number("pose_max_age_s", 0.5, 0.05, 5.0),
        attitude_error_deg=s.number("attitude_error_deg", 1.5, 0.0, 15.0),
        position_error_m=s.number("position_error_m", 3.0, 0.0, 50.0),
        timing_skew_s=s.number("timing_skew_s", 0.05, 0.0, 2.0),
        horizon_margin_deg=s.number("horizon_margin_deg", 1.0, 0.0, 45.0),
        structure_height_m=s.number("structure_height_m", 0.0, 0.0, 500.0),
        terrain_up_m=s.number("terrain_up_m", 0.0, -1000.0, 5000.0),
        mask_outside_area=s.flag("mask_outside_area", False),
        component_id=s.integer("component_id", 100, 7, 255),
        stream_uri=s.text("stream_uri", ""),
    )
    s.finish()
    try:
        config.camera_model()
    except ValueError as exc:
        raise InputError(f"{where}: camera model invalid: {exc}", "check the calibration") from exc
    return config


def parse_trigger_section(table: Mapping[str, Any], where: str = "[trigger]") -> TriggerConfig:
    s = _Section(table, where)
    key = s.text("pilot_key", "r")
    if len(key) != 1 or not key.isprintable() or key.isspace():
        raise s._bad("pilot_key", "must be one printable character")
    channel = s.integer("rc_channel", 0, 0, 18)
    config = TriggerConfig(
        pilot_key=key,
        rc_channel=channel,
        rc_threshold_us=s.integer("rc_threshold_us", 1700, 800, 2200),
        rc_active=s.text("rc_active", "high", ("high", "low")),
        rc_hysteresis_us=s.integer("rc_hysteresis_us", 50, 0, 300),
        pre_event_s=s.number("pre_event_s", 0.0, 0.0, 120.0),
    )
    s.finish()
    return config


def load_camera_file(path: Path) -> CameraConfig:
    """A TOML file with a ``[camera]`` table (a camera file or a whole operation profile)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file", "give the path of a camera TOML file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: not readable TOML: {exc}", "fix the file's syntax") from exc
    if "camera" not in data:
        raise InputError(f"{path}: no [camera] table", "put the camera keys under [camera]")
    return parse_camera_section(data["camera"], f"{path} [camera]")
