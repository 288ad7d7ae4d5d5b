"""`drone-agent redact` end to end: a ground-truth video (zones painted magenta), a .tlog with a
noisy pose, a GeoJSON zone file and a camera TOML → an MP4 with no reserved-colour pixel."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from shapely.geometry import Polygon

from drone_agent.capture.camera import CameraModel
from drone_agent.capture.privacy import PrivacyZone
from drone_agent.capture.testing import TruthCamera, TruthPose, near_reserved_pixels, telemetry
from drone_agent.cli import main
from drone_agent.geofence import GeoPoint, LocalFrame

HOME = GeoPoint(51.2705, 0.5227, 30.0)
FRAME = LocalFrame(HOME)
T0_UNIX_S = 1_795_000_000.0
VIDEO_START_BOOT_MS = 2000
FPS = 10
N_FRAMES = 30
ZONES = (PrivacyZone("Garden of No. 12", Polygon([(-10, 5), (15, 8), (12, 30), (-8, 25)])),)


def _truth(boot_ms: int) -> TruthPose:
    t = boot_ms / 1000.0
    return TruthPose(-20.0 + 4.0 * t, -10.0 + 3.0 * t, 30.0, yaw_deg=50.0, gimbal_pitch_deg=-65.0 + 5 * math.sin(t))


def _noisy(pose: TruthPose, rng: np.random.Generator) -> TruthPose:
    d = rng.normal(size=3)
    d = d / np.linalg.norm(d) * rng.uniform(0, 2.5)
    return dataclasses.replace(
        pose,
        east_m=pose.east_m + d[0],
        north_m=pose.north_m + d[1],
        up_m=pose.up_m + d[2],
        gimbal_pitch_deg=pose.gimbal_pitch_deg + rng.uniform(-0.7, 0.7),
        gimbal_yaw_deg=pose.gimbal_yaw_deg + rng.uniform(-0.7, 0.7),
    )


def _write_tlog(path: Path) -> None:
    rng = np.random.default_rng(3)
    autopilot = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    with path.open("wb") as f:

        def record(msg, boot_ms: int, packer=autopilot) -> None:
            f.write(struct.pack(">Q", int((T0_UNIX_S + boot_ms / 1000.0 + 0.004) * 1e6)) + msg.pack(packer))

        home = autopilot.home_position_encode(
            round(HOME.lat_deg * 1e7), round(HOME.lon_deg * 1e7), 30_000, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0
        )
        record(home, 0)
        for boot_ms in range(0, 6001, 100):
            for msg in telemetry(_noisy(_truth(boot_ms), rng), FRAME, boot_ms, vel_enu_mps=(4.0, 3.0, 0.0)):
                record(msg, boot_ms)


def _write_video(path: Path, camera: CameraModel) -> int:
    truth = TruthCamera(camera, ZONES)
    painted = 0
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = camera.width_px, camera.height_px, "bgr0"
        for i in range(N_FRAMES):
            image = truth.render(_truth(VIDEO_START_BOOT_MS + i * 1000 // FPS))
            painted += near_reserved_pixels(image) > 0
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return painted


def _zone_file(path: Path) -> None:
    features = []
    for zone in ZONES:
        ring = [list(reversed(FRAME.to_geo(e, n))) for e, n in zone.polygon.exterior.coords]
        features.append(
            {"type": "Feature", "properties": {"kind": "privacy", "name": zone.name},
             "geometry": {"type": "Polygon", "coordinates": [ring]}}
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


@pytest.fixture
def flight(tmp_path: Path):
    camera = CameraModel.from_hfov(320, 240, 70.0)
    (tmp_path / "camera.toml").write_text(
        "[camera]\nwidth_px = 320\nheight_px = 240\nhfov_deg = 70.0\nmount = \"gimbal\"\n"
        "attitude_error_deg = 1.5\nposition_error_m = 3.0\n"
    )
    _write_tlog(tmp_path / "flight.tlog")
    painted = _write_video(tmp_path / "clip.mkv", camera)
    _zone_file(tmp_path / "zones.geojson")
    return tmp_path, painted


def _args(d: Path, offset: float, out: str = "out.mp4") -> list[str]:
    return [
        "redact", str(d / "clip.mkv"), "--tlog", str(d / "flight.tlog"), "--zones", str(d / "zones.geojson"),
        "--camera", str(d / "camera.toml"), "--time-offset", str(offset), "--out", str(d / out),
    ]


def test_redact_leaves_no_reserved_colour(flight, capsys: pytest.CaptureFixture[str]) -> None:
    d, painted = flight
    assert painted >= N_FRAMES // 2
    assert main(_args(d, VIDEO_START_BOOT_MS / 1000.0)) == 0
    printed = capsys.readouterr().out
    assert f"redacted {N_FRAMES} frames" in printed and "Garden of No. 12" in printed
    frames = 0
    with av.open(str(d / "out.mp4")) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            assert near_reserved_pixels(image) == 0
            assert np.count_nonzero(image.max(axis=2) > 60) > image.shape[0] * image.shape[1] // 4
            frames += 1
    assert frames == N_FRAMES
    assert not (d / "out.mp4.partial").exists()


def test_redact_with_misaligned_log_refuses_and_leaves_nothing(flight, capsys: pytest.CaptureFixture[str]) -> None:
    d, _ = flight
    assert main(_args(d, 5000.0)) == 2
    err = capsys.readouterr().err
    assert err.startswith("input: ") and "--time-offset" in err
    assert sorted(p.name for p in d.iterdir()) == ["camera.toml", "clip.mkv", "flight.tlog", "zones.geojson"]


def test_redact_input_errors(flight, capsys: pytest.CaptureFixture[str]) -> None:
    d, _ = flight
    assert main(_args(d, 0.0, out="clip.mkv")) == 2
    assert "is the input video" in capsys.readouterr().err
    (d / "camera.toml").write_text("[camera]\nwidth_px = 320\n")
    assert main(_args(d, 2.0)) == 2
    assert "height_px are required" in capsys.readouterr().err
    (d / "camera.toml").write_text("[camera]\nwidth_px = 640\nheight_px = 480\nhfov_deg = 70.0\n")
    assert main(_args(d, 2.0)) == 2
    assert "frames are 320x240 but the camera file says 640x480" in capsys.readouterr().err
    (d / "camera.toml").write_text(
        "[camera]\nwidth_px = 320\nheight_px = 240\nhfov_deg = 70.0\nmask_outside_area = true\n"
    )
    assert main(_args(d, 2.0)) == 2
    assert "no operation_area" in capsys.readouterr().err
    (d / "zones.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (d / "camera.toml").write_text("[camera]\nwidth_px = 320\nheight_px = 240\nhfov_deg = 70.0\n")
    assert main(_args(d, 2.0)) == 2
    assert not (d / "out.mp4").exists()
