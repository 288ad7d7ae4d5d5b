"""Frame sources: OpenCV file reading with timestamps, the simulator adapter, the boot clock."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from drone_agent.capture.sources import BootTimeEstimator, OpenCvSource, SimCameraSource
from drone_agent.errors import InputError


def _write_video(path: Path, frames: int = 6) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 30, np.uint8))
    writer.release()


def test_file_source_stamps_frames_with_file_time_plus_offset(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path)
    frames = list(OpenCvSource(str(path), file_offset_ms=5000))
    assert len(frames) == 6
    times = [f.time_boot_ms for f in frames]
    assert times[0] == 5000 and times[1] - times[0] == 100 and times == sorted(times)
    assert frames[0].image.shape == (48, 64, 3)


def test_bad_file_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="cannot open"):
        OpenCvSource(str(tmp_path / "x.mp4"))
    with pytest.raises(ValueError, match="BootTimeEstimator"):
        OpenCvSource("rtsp://127.0.0.1:1/none")


def test_boot_time_estimator_uses_least_delayed_message() -> None:
    est = BootTimeEstimator()
    assert not est.ready
    with pytest.raises(ValueError):
        est.to_boot_ms(1.0)
    est.observe(10_000, 100.050)  # arrived 50 ms late
    est.observe(10_100, 100.110)  # 10 ms late
    est.observe(10_200, 100.230)  # 30 ms late
    assert est.to_boot_ms(100.5) == 10_490
    est.observe(500, 200.0)  # vehicle rebooted
    assert est.to_boot_ms(200.5) == 1000


def test_sim_camera_adapter() -> None:
    image = np.zeros((24, 32, 3), np.uint8)
    frames = list(SimCameraSource([(1000, image), (1033, image)]))
    assert [f.time_boot_ms for f in frames] == [1000, 1033] and frames[0].image is image
    with pytest.raises(ValueError, match="BGR"):
        list(SimCameraSource([(1000, np.zeros((24, 32), np.uint8))]))
