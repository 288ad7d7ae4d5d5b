"""The MAVLink camera component over real UDP sockets, driven by a pymavlink ground station."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.capture.camera_link import CameraLink
from drone_agent.capture.mavcamera import CameraComponent, CameraIdentity
from drone_agent.capture.trigger import EvidenceTrigger, TriggerEvent


@pytest.fixture
def camera_over_udp():
    events: list[TriggerEvent] = []
    trigger = EvidenceTrigger(events.append)
    component = CameraComponent(trigger, CameraIdentity(1280, 720, 78.0), start_s=time.monotonic())
    conn = mavutil.mavlink_connection("udpin:127.0.0.1:0", source_system=1, source_component=100)
    port = conn.port.getsockname()[1]
    link = CameraLink(conn, component)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            link.step(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    gcs = mavutil.mavlink_connection(f"udpout:127.0.0.1:{port}", source_system=255, source_component=190)
    try:
        yield gcs, trigger, events
    finally:
        stop.set()
        thread.join(timeout=5)
        gcs.close()
        conn.close()


def _command(gcs, command: int, *params: float, retries: int = 5):
    """Send like a GCS does: resend (confirmation += 1) until the COMMAND_ACK arrives."""
    p = list(params) + [0.0] * (7 - len(params))
    for confirmation in range(retries):
        gcs.mav.command_long_send(1, 100, command, confirmation, *p)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            msg = gcs.recv_match(type="COMMAND_ACK", blocking=True, timeout=0.2)
            if msg is not None and msg.command == command:
                return msg
    raise AssertionError(f"no COMMAND_ACK for {command}")


def _wait(gcs, kind: str, timeout_s: float = 3.0):
    msg = gcs.recv_match(type=kind, blocking=True, timeout=timeout_s)
    assert msg is not None, f"no {kind}"
    return msg


@pytest.mark.slow
def test_gcs_discovers_camera_and_records(camera_over_udp) -> None:
    gcs, trigger, events = camera_over_udp
    gcs.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
    hb = _wait(gcs, "HEARTBEAT")
    assert hb.type == mavlink.MAV_TYPE_CAMERA and hb.get_srcComponent() == 100 and hb.get_srcSystem() == 1
    ack = _command(gcs, mavlink.MAV_CMD_REQUEST_MESSAGE, 259)
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    info = _wait(gcs, "CAMERA_INFORMATION")
    assert (info.resolution_h, info.resolution_v) == (1280, 720) and info.flags & 1
    assert _command(gcs, mavlink.MAV_CMD_VIDEO_START_CAPTURE, 0, 5, 0).result == 0
    status = _wait(gcs, "CAMERA_CAPTURE_STATUS")
    assert status.video_status == 1
    assert trigger.active and events[0].source == "mavlink" and events[0].operator == "gcs 255/190"
    assert _command(gcs, mavlink.MAV_CMD_VIDEO_STOP_CAPTURE, 0, 0).result == 0
    assert not trigger.active and [e.kind for e in events] == ["trigger_start", "trigger_stop"]
    assert datetime.fromisoformat(events[1].utc.replace("Z", "+00:00")) <= datetime.now(timezone.utc)
