"""The agent as a MAVLink camera component (camera protocol v2), sans-IO.

Theory of operation
-------------------
``CameraComponent`` is fed every MAVLink message the link receives (``on_message(msg, now_s,
utc)``) and polled with ``tick(now_s)``; both return the messages to send, as pymavlink message
objects the adapter packs with source (system id, component id 100 by default). It owns no
socket and reads no clock.

* ``tick`` sends HEARTBEAT (type MAV_TYPE_CAMERA, autopilot MAV_AUTOPILOT_INVALID) once a second,
  and CAMERA_CAPTURE_STATUS at the rate a VIDEO_START_CAPTURE asked for (param2, Hz) while
  recording.
* COMMAND_LONG addressed to this component (or broadcast, component 0) is answered with exactly one
  COMMAND_ACK addressed back to the sender, then any message it asked for:

  ==============================  ================================================================
  MAV_CMD_REQUEST_MESSAGE (512)   259 CAMERA_INFORMATION, 260 CAMERA_SETTINGS, 262
                                  CAMERA_CAPTURE_STATUS, 269 VIDEO_STREAM_INFORMATION (param2
                                  stream 0/1): ACCEPTED + message; other ids: UNSUPPORTED
  legacy 521/522/527/2504         the same four messages (REQUEST_CAMERA_INFORMATION, _SETTINGS,
                                  _CAPTURE_STATUS, REQUEST_VIDEO_STREAM_INFORMATION)
  VIDEO_START_CAPTURE (2500)      ``trigger.start("mavlink")``; ACCEPTED (also when already
                                  recording: a retransmission must not fail or split a recording)
  VIDEO_STOP_CAPTURE (2501)       ``trigger.stop("mavlink")``; ACCEPTED
  IMAGE_START_CAPTURE (2000)      single image (param3 = 1): ``trigger.still`` + ``on_still``,
                                  ACCEPTED then CAMERA_IMAGE_CAPTURED; a repeated sequence number
                                  (param4) is ACCEPTED without a second image; intervals/bursts:
                                  DENIED
  IMAGE_STOP_CAPTURE (2001)       ACCEPTED (nothing to stop)
  SET_CAMERA_MODE (530)           image/video mode (param2 0/1): ACCEPTED; others DENIED
  anything else                   UNSUPPORTED
  ==============================  ================================================================

* Camera addressing: the target-camera parameter may be 0 (all), 1 (our single sensor) or our
  component id; anything else is DENIED when the command was addressed to us and ignored when
  it was broadcast. Commands for another system or component are ignored (no ACK).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.capture.trigger import EvidenceTrigger, TriggerEvent

_MAV = mavlink.MAVLink(None)

CAP_CAPTURE_VIDEO = 1
CAP_CAPTURE_IMAGE = 2
CAP_CAN_CAPTURE_IMAGE_IN_VIDEO_MODE = 8
CAP_CAN_CAPTURE_VIDEO_IN_IMAGE_MODE = 16
CAP_HAS_VIDEO_STREAM = 256

MSG_CAMERA_INFORMATION = 259
MSG_CAMERA_SETTINGS = 260
MSG_CAMERA_CAPTURE_STATUS = 262
MSG_VIDEO_STREAM_INFORMATION = 269

LEGACY_REQUESTS = {
    mavlink.MAV_CMD_REQUEST_CAMERA_INFORMATION: MSG_CAMERA_INFORMATION,
    mavlink.MAV_CMD_REQUEST_CAMERA_SETTINGS: MSG_CAMERA_SETTINGS,
    mavlink.MAV_CMD_REQUEST_CAMERA_CAPTURE_STATUS: MSG_CAMERA_CAPTURE_STATUS,
    mavlink.MAV_CMD_REQUEST_VIDEO_STREAM_INFORMATION: MSG_VIDEO_STREAM_INFORMATION,
}


@dataclass(frozen=True, slots=True)
class CameraIdentity:
    """What the component advertises in CAMERA_INFORMATION and VIDEO_STREAM_INFORMATION."""

    width_px: int
    height_px: int
    hfov_deg: float
    fps: float = 30.0
    bitrate_bps: int = 8_000_000
    vendor: str = "drone-agent"
    model: str = "evidence camera"
    firmware_version: int = 0
    gimbal_device_id: int = 0
    stream_uri: str = ""


def _fixed(text: str, size: int) -> bytes:
    return text.encode("utf-8")[:size]


class CameraComponent:
    """A MAVLink camera (see the module docstring)."""

    def __init__(
        self,
        trigger: EvidenceTrigger,
        identity: CameraIdentity,
        *,
        system_id: int = 1,
        component_id: int = 100,
        start_s: float = 0.0,
        on_still: Callable[[TriggerEvent], None] | None = None,
    ) -> None:
        if not 1 <= component_id <= 255 or component_id <= 6:
            raise ValueError(f"camera component id {component_id} must be 7..255 (100 recommended)")
        self.trigger = trigger
        self.identity = identity
        self.system_id = system_id
        self.component_id = component_id
        self.on_still = on_still
        self._start_s = start_s
        self._next_heartbeat_s = start_s
        self._mode = mavlink.CAMERA_MODE_VIDEO
        self._status_interval_s = 0.0
        self._next_status_s = math.inf
        self._recording_since_s: float | None = None
        self._image_count = 0
        self._last_image_sequence: int | None = None

    # -- clocks -----------------------------------------------------------------------------
    def _boot_ms(self, now_s: float) -> int:
        return max(0, int((now_s - self._start_s) * 1000)) & 0xFFFFFFFF

    def _sync_recording(self, now_s: float) -> None:
        if self.trigger.active and self._recording_since_s is None:
            self._recording_since_s = now_s
        elif not self.trigger.active:
            self._recording_since_s = None

    # -- periodic ---------------------------------------------------------------------------
    def tick(self, now_s: float) -> list[Any]:
        out: list[Any] = []
        self._sync_recording(now_s)
        if now_s >= self._next_heartbeat_s:
            out.append(
                _MAV.heartbeat_encode(
                    mavlink.MAV_TYPE_CAMERA, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE
                )
            )
            self._next_heartbeat_s = max(self._next_heartbeat_s + 1.0, now_s + 0.5)
        if self.trigger.active and self._status_interval_s > 0 and now_s >= self._next_status_s:
            out.append(self.capture_status(now_s))
            self._next_status_s = max(self._next_status_s + self._status_interval_s, now_s)
        return out

    # -- messages ---------------------------------------------------------------------------
    def camera_information(self, now_s: float) -> Any:
        ident = self.identity
        flags = (
            CAP_CAPTURE_VIDEO
            | CAP_CAPTURE_IMAGE
            | CAP_CAN_CAPTURE_IMAGE_IN_VIDEO_MODE
            | CAP_CAN_CAPTURE_VIDEO_IN_IMAGE_MODE
        )
        if ident.stream_uri:
            flags |= CAP_HAS_VIDEO_STREAM
        nan = float("nan")
        return _MAV.camera_information_encode(
            self._boot_ms(now_s),
            list(_fixed(ident.vendor, 32).ljust(32, b"\0")),
            list(_fixed(ident.model, 32).ljust(32, b"\0")),
            ident.firmware_version,
            nan,
            nan,
            nan,
            ident.width_px,
            ident.height_px,
            0,
            flags,
            0,
            b"",
            ident.gimbal_device_id,
        )

    def camera_settings(self, now_s: float) -> Any:
        return _MAV.camera_settings_encode(self._boot_ms(now_s), self._mode, float("nan"), float("nan"))

    def capture_status(self, now_s: float) -> Any:
        self._sync_recording(now_s)
        recording_ms = 0
        if self._recording_since_s is not None:
            recording_ms = int((now_s - self._recording_since_s) * 1000)
        return _MAV.camera_capture_status_encode(
            self._boot_ms(now_s),
            0,
            1 if self.trigger.active else 0,
            0.0,
            recording_ms,
            float("nan"),
            self._image_count,
        )

    def video_stream_information(self) -> Any:
        ident = self.identity
        return _MAV.video_stream_information_encode(
            1,
            1,
            mavlink.VIDEO_STREAM_TYPE_RTSP,
            mavlink.VIDEO_STREAM_STATUS_FLAGS_RUNNING if ident.stream_uri else 0,
            ident.fps,
            ident.width_px,
            ident.height_px,
            ident.bitrate_bps,
            0,
            round(ident.hfov_deg),
            _fixed("evidence", 32),
            _fixed(ident.stream_uri, 160),
            mavlink.VIDEO_STREAM_ENCODING_H264,
        )

    # -- commands ---------------------------------------------------------------------------
    def on_message(self, msg: Any, now_s: float, utc: datetime) -> list[Any]:
        """Handle one received message; returns what to send in reply."""
        if msg.get_type() != "COMMAND_LONG":
            return []
        if msg.target_system not in (0, self.system_id):
            return []
        if msg.target_component not in (0, self.component_id):
            return []
        broadcast = msg.target_component == 0
        self._sync_recording(now_s)
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        handled = self._handle(msg, now_s, utc, sender, broadcast)
        if handled is None:
            return []
        result, extra = handled
        ack = _MAV.command_ack_encode(msg.command, result, 0, 0, sender[0], sender[1])
        return [ack, *extra]

    def _for_us(self, camera_param: float) -> bool:
        return int(camera_param) in (0, 1, self.component_id)

    def _handle(
        self, msg: Any, now_s: float, utc: datetime, sender: tuple[int, int], broadcast: bool
    ) -> tuple[int, list[Any]] | None:
        command = msg.command
        operator = f"gcs {sender[0]}/{sender[1]}"
        if command == mavlink.MAV_CMD_REQUEST_MESSAGE or command in LEGACY_REQUESTS:
            if command == mavlink.MAV_CMD_REQUEST_MESSAGE:
                message_id = int(msg.param1)
            else:
                message_id = LEGACY_REQUESTS[command]
            reply = self._requested(message_id, msg, now_s, command)
            if reply is None:
                return mavlink.MAV_RESULT_UNSUPPORTED, []
            return mavlink.MAV_RESULT_ACCEPTED, [reply]
        camera_param = {
            mavlink.MAV_CMD_VIDEO_START_CAPTURE: msg.param3,
            mavlink.MAV_CMD_VIDEO_STOP_CAPTURE: msg.param2,
            mavlink.MAV_CMD_IMAGE_START_CAPTURE: msg.param1,
            mavlink.MAV_CMD_IMAGE_STOP_CAPTURE: msg.param1,
        }.get(command)
        if camera_param is not None and not self._for_us(camera_param):
            return None if broadcast else (mavlink.MAV_RESULT_DENIED, [])
        if command == mavlink.MAV_CMD_VIDEO_START_CAPTURE:
            started = self.trigger.start(
                "mavlink", utc, operator=operator, reason="MAV_CMD_VIDEO_START_CAPTURE"
            )
            self._sync_recording(now_s)
            self._status_interval_s = 1.0 / msg.param2 if msg.param2 > 0 else 0.0
            if started is not None or math.isinf(self._next_status_s):
                self._next_status_s = now_s
            return mavlink.MAV_RESULT_ACCEPTED, []
        if command == mavlink.MAV_CMD_VIDEO_STOP_CAPTURE:
            self.trigger.stop("mavlink", utc, operator=operator, reason="MAV_CMD_VIDEO_STOP_CAPTURE")
            self._sync_recording(now_s)
            self._status_interval_s = 0.0
            return mavlink.MAV_RESULT_ACCEPTED, []
        if command == mavlink.MAV_CMD_IMAGE_START_CAPTURE:
            return self._image(msg, now_s, utc, operator)
        if command == mavlink.MAV_CMD_IMAGE_STOP_CAPTURE:
            return mavlink.MAV_RESULT_ACCEPTED, []
        if command == mavlink.MAV_CMD_SET_CAMERA_MODE:
            mode = int(msg.param2)
            if mode not in (mavlink.CAMERA_MODE_IMAGE, mavlink.CAMERA_MODE_VIDEO):
                return mavlink.MAV_RESULT_DENIED, []
            self._mode = mode
            return mavlink.MAV_RESULT_ACCEPTED, [self.camera_settings(now_s)]
        return mavlink.MAV_RESULT_UNSUPPORTED, []

    def _requested(self, message_id: int, msg: Any, now_s: float, command: int) -> Any | None:
        if message_id == MSG_CAMERA_INFORMATION:
            return self.camera_information(now_s)
        if message_id == MSG_CAMERA_SETTINGS:
            return self.camera_settings(now_s)
        if message_id == MSG_CAMERA_CAPTURE_STATUS:
            return self.capture_status(now_s)
        if message_id == MSG_VIDEO_STREAM_INFORMATION:
            stream = int(msg.param2 if command == mavlink.MAV_CMD_REQUEST_MESSAGE else msg.param1)
            return self.video_stream_information() if stream in (0, 1) else None
        return None

    def _image(self, msg: Any, now_s: float, utc: datetime, operator: str) -> tuple[int, list[Any]]:
        if int(msg.param3) != 1:
            return mavlink.MAV_RESULT_DENIED, []  # interval / burst capture is not offered
        sequence = int(msg.param4)
        if sequence and sequence == self._last_image_sequence:
            return mavlink.MAV_RESULT_ACCEPTED, []  # retransmission of the same request
        self._last_image_sequence = sequence or None
        event = self.trigger.still(
            "mavlink", utc, operator=operator, reason="MAV_CMD_IMAGE_START_CAPTURE"
        )
        if self.on_still is not None:
            self.on_still(event)
        self._image_count += 1
        captured = _MAV.camera_image_captured_encode(
            self._boot_ms(now_s),
            int(utc.timestamp() * 1_000_000),
            0,
            0,
            0,
            0,
            0,
            [1.0, 0.0, 0.0, 0.0],
            self._image_count - 1,
            1,
            b"",
        )
        return mavlink.MAV_RESULT_ACCEPTED, [captured]
