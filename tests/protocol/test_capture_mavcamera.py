"""The MAVLink camera component against a scripted ground station, through pymavlink's codec."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.capture.mavcamera import CameraComponent, CameraIdentity
from drone_agent.capture.trigger import EvidenceTrigger, TriggerEvent

UTC = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
M = mavlink


class ScriptedGcs:
    """Packs commands as system 255 / component 190 and decodes what the camera sends back."""

    def __init__(self, camera: CameraComponent) -> None:
        self.camera = camera
        self.gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        self.cam_side = mavlink.MAVLink(None)
        self.cam_out = mavlink.MAVLink(None, srcSystem=camera.system_id, srcComponent=camera.component_id)
        self.gcs_in = mavlink.MAVLink(None)
        self.confirmation = 0

    def _wire(self, msg, sender: mavlink.MAVLink, receiver: mavlink.MAVLink):
        decoded = receiver.parse_buffer(msg.pack(sender))
        assert decoded and len(decoded) == 1
        return decoded[0]

    def command(self, command: int, *params: float, target=(1, 100), now_s: float = 10.0) -> list:
        p = list(params) + [0.0] * (7 - len(params))
        msg = self.gcs.command_long_encode(target[0], target[1], command, self.confirmation, *p)
        received = self._wire(msg, self.gcs, self.cam_side)
        return [self._wire(r, self.cam_out, self.gcs_in) for r in self.camera.on_message(received, now_s, UTC)]


@pytest.fixture
def rig():
    events: list[TriggerEvent] = []
    stills: list[TriggerEvent] = []
    trigger = EvidenceTrigger(events.append, incident_ref="KP-1")
    camera = CameraComponent(
        trigger, CameraIdentity(1920, 1080, 82.4, stream_uri=""), on_still=stills.append, start_s=0.0
    )
    return ScriptedGcs(camera), trigger, events, stills


def _ack(replies, command: int, result: int):
    ack = replies[0]
    assert ack.get_type() == "COMMAND_ACK"
    assert (ack.command, ack.result) == (command, result)
    assert (ack.target_system, ack.target_component) == (255, 190)
    assert ack.get_srcSystem() == 1 and ack.get_srcComponent() == 100
    return replies[1:]


def test_heartbeat_is_camera_at_1hz(rig) -> None:
    gcs, *_ = rig
    beats = [m for t in range(0, 31) for m in gcs.camera.tick(t / 10.0)]
    assert len(beats) == 4  # t = 0, 1, 2, 3 s
    hb = gcs._wire(beats[0], gcs.cam_out, gcs.gcs_in)
    assert hb.type == M.MAV_TYPE_CAMERA and hb.autopilot == M.MAV_AUTOPILOT_INVALID
    assert hb.get_srcComponent() == 100


def test_discovery_camera_information(rig) -> None:
    gcs, *_ = rig
    (info,) = _ack(gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 259), M.MAV_CMD_REQUEST_MESSAGE, M.MAV_RESULT_ACCEPTED)
    assert info.get_type() == "CAMERA_INFORMATION"
    assert (info.resolution_h, info.resolution_v) == (1920, 1080)
    assert info.flags & 1 and info.flags & 2 and not info.flags & 256  # video, image, no stream
    assert bytes(info.vendor_name).rstrip(b"\0") == b"drone-agent"
    assert math.isnan(info.focal_length)
    legacy = gcs.command(M.MAV_CMD_REQUEST_CAMERA_INFORMATION, 1)
    assert _ack(legacy, M.MAV_CMD_REQUEST_CAMERA_INFORMATION, 0)[0].get_type() == "CAMERA_INFORMATION"


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        (M.MAV_CMD_REQUEST_MESSAGE, (260,), "CAMERA_SETTINGS"),
        (M.MAV_CMD_REQUEST_MESSAGE, (262,), "CAMERA_CAPTURE_STATUS"),
        (M.MAV_CMD_REQUEST_MESSAGE, (269, 0), "VIDEO_STREAM_INFORMATION"),
        (M.MAV_CMD_REQUEST_MESSAGE, (269, 1), "VIDEO_STREAM_INFORMATION"),
        (M.MAV_CMD_REQUEST_CAMERA_SETTINGS, (1,), "CAMERA_SETTINGS"),
        (M.MAV_CMD_REQUEST_CAMERA_CAPTURE_STATUS, (1,), "CAMERA_CAPTURE_STATUS"),
        (M.MAV_CMD_REQUEST_VIDEO_STREAM_INFORMATION, (1,), "VIDEO_STREAM_INFORMATION"),
    ],
)
def test_requested_messages(rig, command: int, params, expected: str) -> None:
    gcs, *_ = rig
    (reply,) = _ack(gcs.command(command, *params), command, M.MAV_RESULT_ACCEPTED)
    assert reply.get_type() == expected
    if expected == "VIDEO_STREAM_INFORMATION":
        assert reply.stream_id == 1 and reply.hfov == 82 and reply.resolution_h == 1920


def test_unsupported_requests_and_commands(rig) -> None:
    gcs, *_ = rig
    assert _ack(gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 148), 512, M.MAV_RESULT_UNSUPPORTED) == []
    assert _ack(gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 269, 3), 512, M.MAV_RESULT_UNSUPPORTED) == []
    assert _ack(gcs.command(M.MAV_CMD_DO_DIGICAM_CONTROL), M.MAV_CMD_DO_DIGICAM_CONTROL, M.MAV_RESULT_UNSUPPORTED) == []


def test_video_start_stop_drives_trigger_and_status(rig) -> None:
    gcs, trigger, events, _ = rig
    assert _ack(gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, 0, 2, 0, now_s=10.0), 2500, 0) == []
    assert trigger.active and events[-1].kind == "trigger_start" and events[-1].source == "mavlink"
    assert events[-1].operator == "gcs 255/190" and events[-1].incident_ref == "KP-1"
    # a retransmission is acknowledged again without a second start
    assert _ack(gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, 0, 2, 0, now_s=10.1), 2500, 0) == []
    assert len(events) == 1
    status = [m for t in range(100, 121) for m in gcs.camera.tick(t / 10.0) if m.get_type() == "CAMERA_CAPTURE_STATUS"]
    assert len(status) == 5  # 2 Hz from t = 10.0 to 12.0 s
    assert status[-1].video_status == 1 and status[-1].recording_time_ms == 2000
    (cap,) = _ack(gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 262, now_s=12.5), 512, 0)
    assert cap.video_status == 1
    assert _ack(gcs.command(M.MAV_CMD_VIDEO_STOP_CAPTURE, 0, 0, now_s=13.0), 2501, 0) == []
    assert not trigger.active and events[-1].kind == "trigger_stop"
    assert not [m for m in gcs.camera.tick(14.0) if m.get_type() == "CAMERA_CAPTURE_STATUS"]
    (cap,) = _ack(gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 262, now_s=14.0), 512, 0)
    assert cap.video_status == 0 and cap.recording_time_ms == 0


def test_image_capture_single_and_retransmitted(rig) -> None:
    gcs, trigger, events, stills = rig
    (captured,) = _ack(gcs.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 7), 2000, 0)
    assert captured.get_type() == "CAMERA_IMAGE_CAPTURED" and captured.capture_result == 1
    assert captured.image_index == 0 and len(stills) == 1 and events[-1].kind == "still_captured"
    assert _ack(gcs.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 7), 2000, 0) == []  # same sequence
    assert len(stills) == 1
    (captured,) = _ack(gcs.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 8), 2000, 0)
    assert captured.image_index == 1 and len(stills) == 2
    assert _ack(gcs.command(M.MAV_CMD_IMAGE_START_CAPTURE, 0, 2.0, 0, 0), 2000, M.MAV_RESULT_DENIED) == []
    assert not trigger.active  # stills never start a video recording


def test_addressing(rig) -> None:
    gcs, trigger, *_ = rig
    assert gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, target=(1, 1)) == []  # the autopilot's
    assert gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, target=(2, 100)) == []  # another aircraft
    assert gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, 0, 0, 3, target=(1, 0)) == []  # broadcast, camera 3
    assert not trigger.active
    assert _ack(gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, 0, 0, 3), 2500, M.MAV_RESULT_DENIED) == []
    assert _ack(gcs.command(M.MAV_CMD_VIDEO_START_CAPTURE, 0, 0, 100, target=(1, 0)), 2500, 0) == []
    assert trigger.active


def test_set_camera_mode(rig) -> None:
    gcs, *_ = rig
    (settings,) = _ack(gcs.command(M.MAV_CMD_SET_CAMERA_MODE, 0, 0), 530, 0)
    assert settings.mode_id == 0
    assert _ack(gcs.command(M.MAV_CMD_SET_CAMERA_MODE, 0, 2), 530, M.MAV_RESULT_DENIED) == []


def test_stream_uri_advertised_when_configured() -> None:
    camera = CameraComponent(EvidenceTrigger(), CameraIdentity(640, 480, 60.0, stream_uri="rtsp://10.0.0.2/cam"))
    assert camera.camera_information(0.0).flags & 256
    assert camera.video_stream_information().uri == "rtsp://10.0.0.2/cam"
    with pytest.raises(ValueError):
        CameraComponent(EvidenceTrigger(), CameraIdentity(640, 480, 60.0), component_id=1)
