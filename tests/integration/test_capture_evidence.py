"""Capture → evidence: trigger events land in the signed audit log, segments and stills are sealed by
the flight vault with SegmentMeta.as_dict(), the flight verifies, and a decrypted segment is masked."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import av
import pyrage
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from shapely.geometry import box

from drone_agent.capture.camera import CameraModel, GimbalMount
from drone_agent.capture.mavcamera import CameraComponent, CameraIdentity
from drone_agent.capture.pose import PoseTrack
from drone_agent.capture.privacy import PoseUncertainty, PrivacyMasker, PrivacyZone
from drone_agent.capture.recorder import BootClock, Recorder
from drone_agent.capture.testing import (
    FlatEarthFrame,
    TruthCamera,
    TruthPose,
    near_reserved_pixels,
    reserved_pixels,
    telemetry,
)
from drone_agent.capture.trigger import EvidenceTrigger
from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, verify_flight

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
FRAME = FlatEarthFrame(51.2705, 0.5227)
ZONES = (PrivacyZone("Garden", box(-8, 5, 12, 25)),)


def test_recording_sealed_into_a_verifiable_flight(tmp_path: Path) -> None:
    identity = EvidenceIdentity.generate()
    vault = FlightVault.create(
        tmp_path, device_key=DeviceKey.generate(), recipient=identity.recipient,
        operation={"name": "capture test", "incident_ref": "KP-77", "config_sha256": "0" * 64},
    )
    camera_model = CameraModel.from_hfov(320, 240, 70.0)
    track = PoseTrack(GimbalMount(), FRAME.to_local)
    recorder_box: list[Recorder] = []

    def on_event(event) -> None:
        vault.audit.append(event.kind, **event.audit_fields())
        if recorder_box:
            recorder_box[0].sync()

    trigger = EvidenceTrigger(on_event, incident_ref="KP-77")
    recorder = Recorder(
        PrivacyMasker(camera_model, ZONES, PoseUncertainty()),
        track, trigger, lambda mp4, meta: vault.seal_segment(mp4, meta.as_dict()),
        BootClock.from_pair(0, T0), segment_s=1.0, still_sink=vault.seal_still,
    )
    recorder_box.append(recorder)
    component = CameraComponent(
        trigger, CameraIdentity(320, 240, 70.0), on_still=recorder.request_still
    )
    truth = TruthCamera(camera_model, ZONES)
    pose = TruthPose(0, 0, 30, gimbal_pitch_deg=-60)  # looking north at the garden
    for t_ms in range(0, 3001, 100):
        for msg in telemetry(pose, FRAME, t_ms):
            track.add_message(msg)
    gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    wire = mavlink.MAVLink(None)

    def command(cmd: int, *p: float) -> None:
        msg = gcs.command_long_encode(1, 100, cmd, 0, *(list(p) + [0.0] * (7 - len(p))))
        (received,) = wire.parse_buffer(msg.pack(gcs))
        replies = component.on_message(received, 1.0, T0)
        assert replies[0].get_type() == "COMMAND_ACK" and replies[0].result == 0

    for i in range(25):  # 2.5 s of frames; recording for the middle 1.5 s
        t_ms = 200 + i * 100
        if i == 5:
            trigger.start("pilot", T0, operator="PC 1234", reason="suspect on foot")
        if i == 8:
            command(2000, 0, 0, 1, 1)  # IMAGE_START_CAPTURE: one still
        if i == 20:
            command(2501, 0, 0)  # VIDEO_STOP_CAPTURE from a ground station
        frame = truth.render(pose)
        assert reserved_pixels(frame) > 0
        result = recorder.on_frame(t_ms, frame)
        if 5 <= i < 20:
            assert result is not None and reserved_pixels(frame) == 0  # masked in place
        else:
            assert result is None and reserved_pixels(frame) > 0  # idle: not even looked at
    recorder.close()
    vault.close()

    report = verify_flight(vault.flight_dir)
    assert report.intact, report.findings
    assert report.segments_verified == 2 and report.stills_verified == 1
    audit = [json.loads(line) for line in (vault.flight_dir / "audit.jsonl").read_text().splitlines()]
    events = [r["event"] for r in audit]
    assert events.index("trigger_start") < events.index("segment_sealed") < events.index("trigger_stop")
    start = next(r for r in audit if r["event"] == "trigger_start")
    stop = next(r for r in audit if r["event"] == "trigger_stop")
    assert (start["source"], start["operator"], start["reason"], start["incident_ref"]) == (
        "pilot", "PC 1234", "suspect on foot", "KP-77"
    )
    assert stop["source"] == "mavlink" and stop["trigger_id"] == start["trigger_id"]
    assert any(r["event"] == "still_captured" for r in audit)
    sealed = sorted((vault.flight_dir / "segments").iterdir())
    plaintext = pyrage.decrypt(sealed[0].read_bytes(), [identity.age])
    with av.open(io.BytesIO(plaintext)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 11 and all(near_reserved_pixels(f) == 0 for f in frames)
