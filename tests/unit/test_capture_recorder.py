"""Recorder: nothing without a trigger, segments that play, pre-event buffer only in RAM, stills."""

from __future__ import annotations

import io
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import pytest
from shapely.geometry import box

import drone_agent.capture.recorder as recorder_module
from drone_agent.capture.camera import CameraModel, GimbalMount
from drone_agent.capture.encoder import EncoderSettings
from drone_agent.capture.pose import PoseTrack
from drone_agent.capture.privacy import PrivacyMasker, PrivacyZone
from drone_agent.capture.recorder import BootClock, Recorder, SegmentMeta
from drone_agent.capture.testing import FlatEarthFrame, TruthPose, telemetry
from drone_agent.capture.trigger import EvidenceTrigger

CAM = CameraModel.from_hfov(160, 120, 70.0)
FRAME = FlatEarthFrame(51.2705, 0.5227)
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
CLOCK = BootClock.from_pair(0, T0)


class Rig:
    def __init__(self, *, pre_event_s: float = 0.0, segment_s: float = 1.0, out: Path | None = None):
        self.segments: list[tuple[bytes, SegmentMeta]] = []
        self.stills: list[tuple[bytes, dict]] = []
        self.out = out
        self.track = PoseTrack(GimbalMount(), FRAME.to_local, max_age_s=10.0)
        for msg in telemetry(TruthPose(0, 0, 40), FRAME, 0):
            self.track.add_message(msg)
        self.trigger = EvidenceTrigger()
        self.recorder = Recorder(
            PrivacyMasker(CAM, [PrivacyZone("yard", box(-5, -5, 5, 5))]),
            self.track,
            self.trigger,
            self._sink,
            CLOCK,
            segment_s=segment_s,
            encoder=EncoderSettings(fps=10.0),
            pre_event_s=pre_event_s,
            still_sink=lambda data, meta: self.stills.append((data, meta)),
        )

    def _sink(self, data: bytes, meta: SegmentMeta) -> None:
        self.segments.append((data, meta))
        if self.out is not None:
            (self.out / f"segment-{len(self.segments)}.mp4").write_bytes(data)

    def frames(self, start_ms: int, count: int, step_ms: int = 100) -> None:
        for i in range(count):
            self.recorder.on_frame(start_ms + i * step_ms, np.full((120, 160, 3), 150, np.uint8))


def _decoded_count(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_no_trigger_no_file_no_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    encoders: list[object] = []
    real_encoder = recorder_module.SegmentEncoder
    monkeypatch.setattr(
        recorder_module, "SegmentEncoder", lambda *a, **k: encoders.append(a) or real_encoder(*a, **k)
    )
    fds_before = set(os.listdir("/proc/self/fd"))
    rig = Rig(out=out)
    rig.frames(0, 30)
    rig.recorder.close()
    assert rig.segments == [] and encoders == []
    assert list(out.iterdir()) == [] and list(tmp.iterdir()) == []
    assert set(os.listdir("/proc/self/fd")) <= fds_before
    # control: the same rig with a trigger does write
    rig.trigger.start("pilot", T0)
    rig.frames(3000, 5)
    rig.recorder.close()
    assert len(rig.segments) == 1 and len(list(out.iterdir())) == 1 and encoders
    assert list(tmp.iterdir()) == []  # still no temporary files: segments are built in memory


def test_segments_are_complete_playable_files_with_metadata() -> None:
    rig = Rig(segment_s=1.0)
    rig.frames(0, 5)  # idle: dropped
    rig.trigger.start("pilot", T0, operator="PC 1")
    trigger_id = rig.trigger.trigger_id
    rig.frames(1000, 25)  # 2.4 s at 10 fps → segments of 11, 11, 3 frames
    rig.trigger.stop("pilot", T0)
    rig.frames(4000, 3)  # the stop closes the open segment at the next frame
    assert [m.frame_count for _, m in rig.segments] == [11, 11, 3]
    for data, meta in rig.segments:
        assert data[4:8] == b"ftyp" and _decoded_count(data) == meta.frame_count
        assert meta.trigger_id == trigger_id and not meta.pre_event
        assert meta.masked_zones == ("yard",) and 0.0 < meta.masked_fraction_mean < 0.5
        assert meta.full_frame_masked == 0
    first = rig.segments[0][1].as_dict()
    assert first["start_utc"] == "2026-11-24T10:00:01.000Z" and first["end_utc"] == "2026-11-24T10:00:02.000Z"
    assert first["codec"] == "h264" and first["pose"]["frames_pose_known"] == 11
    assert first["pose"]["start"]["alt_rel_home_m"] == pytest.approx(40.0, abs=0.01)
    assert first["pose"]["camera_pitch_deg"] == [-90.0, -90.0]


def test_sync_hands_on_a_stopped_recording_at_once() -> None:
    rig = Rig(segment_s=10.0)
    rig.trigger.start("pilot", T0)
    rig.frames(1000, 4)
    rig.recorder.sync()
    assert rig.segments == []  # still recording: nothing to hand on
    rig.trigger.stop("pilot", T0)
    rig.recorder.sync()
    assert [m.frame_count for _, m in rig.segments] == [4]


def test_new_trigger_id_starts_new_segment_and_unknown_pose_is_recorded() -> None:
    rig = Rig(segment_s=10.0)
    rig.trigger.start("pilot", T0)
    rig.frames(1000, 3)
    rig.trigger.stop("mavlink", T0)
    rig.trigger.start("mavlink", T0)  # between two frames: a new recording
    rig.frames(20_000, 2)  # 20 s after the only telemetry (max age 10 s): pose unknown
    rig.recorder.close()
    assert [m.frame_count for _, m in rig.segments] == [3, 2]
    assert rig.segments[0][1].trigger_id != rig.segments[1][1].trigger_id
    last = rig.segments[1][1]
    assert last.full_frame_masked == 2 and last.masked_fraction_max == 1.0
    assert "pose unknown" in last.full_frame_reasons[0]


def test_pre_event_buffer_discarded_without_trigger() -> None:
    rig = Rig(pre_event_s=2.0)
    rig.frames(0, 50)
    rig.recorder.close()
    assert rig.segments == []


def test_pre_event_buffer_flushed_when_trigger_starts() -> None:
    rig = Rig(pre_event_s=2.0, segment_s=5.0)
    rig.frames(0, 50)  # 5 s idle: only the last ≈2 s are kept
    rig.trigger.start("rc", T0)
    rig.frames(5000, 10)
    rig.recorder.close()
    pre = [m for _, m in rig.segments if m.pre_event]
    live = [m for _, m in rig.segments if not m.pre_event]
    assert pre and all(m.trigger_id == rig.segments[-1][1].trigger_id for m in pre)
    kept_s = (pre[-1].end_time_boot_ms - pre[0].start_time_boot_ms) / 1000 + 0.1
    assert 1.5 <= kept_s <= 2.0  # at most pre_event_s, at least three quarters of it
    assert pre[0].start_time_boot_ms >= 3000
    assert [m.frame_count for m in live] == [10]
    assert all(_decoded_count(d) == m.frame_count for d, m in rig.segments)


def test_still_is_masked_jpeg() -> None:
    rig = Rig()
    event = rig.trigger.still("mavlink", T0)
    rig.recorder.request_still(event)
    rig.frames(0, 2)
    assert len(rig.stills) == 1 and rig.segments == []
    data, meta = rig.stills[0]
    assert data[:2] == b"\xff\xd8" and meta["trigger_id"] == event.trigger_id
    assert meta["masked_zones"] == ["yard"] and meta["utc"] == "2026-11-24T10:00:00.000Z"


def test_recorder_rejects_bad_settings() -> None:
    rig = Rig()
    with pytest.raises(ValueError):
        Recorder(rig.recorder.masker, rig.track, rig.trigger, rig._sink, CLOCK, pre_event_s=500)
    with pytest.raises(ValueError):
        Recorder(rig.recorder.masker, rig.track, rig.trigger, rig._sink, CLOCK, segment_s=0)
