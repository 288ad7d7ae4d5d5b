"""The simulator as a process over real sockets: ports, telemetry, flight, routing, UDP."""

from __future__ import annotations

import time

import pytest
from pymavlink import mavutil

from drone_agent.errors import EnvironmentFault
from drone_agent.sim import SimulatorProcess

pytestmark = pytest.mark.slow


def connect(url: str, sysid: int = 255, compid: int = 190) -> mavutil.mavfile:
    m = mavutil.mavlink_connection(url, source_system=sysid, source_component=compid,
                                   dialect="ardupilotmega")
    assert m.wait_heartbeat(timeout=10) is not None
    return m


def ack(m: mavutil.mavfile, command: int, timeout: float = 10.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = m.recv_match(type="COMMAND_ACK", blocking=True, timeout=1)
        if msg is not None and msg.command == command:
            return msg.result
    raise AssertionError(f"no COMMAND_ACK for {command}")


def test_two_instances_fly_independently_and_gcs_sees_telemetry():
    with SimulatorProcess(speedup=10, fast_boot=True, seed=1) as a, \
            SimulatorProcess(speedup=10, fast_boot=True, seed=2,
                             params={"WP_SPD_UP": 5.0}) as b:
        assert len({a.ports["agent"], a.ports["gcs"], b.ports["agent"], b.ports["gcs"]}) == 4
        agent = connect(a.agent_connection)
        gcs = connect(a.gcs_connection)
        other = connect(b.agent_connection)
        time.sleep(0.3)  # fast boot: ~1 s of vehicle time
        for m in (agent, other):
            m.mav.command_long_send(1, 1, 176, 0, 1, 4, 0, 0, 0, 0, 0)
            assert ack(m, 176) == 0
            m.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
            assert ack(m, 400) == 0
            m.mav.command_long_send(1, 1, 22, 0, 0, 0, 0, 0, 0, 0, 10)
            assert ack(m, 22) == 0
        end = time.monotonic() + 20
        alt_gcs = 0.0
        while time.monotonic() < end and alt_gcs < 9.5:
            msg = gcs.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=1)
            if msg is not None:
                alt_gcs = msg.relative_alt / 1000.0
        assert alt_gcs >= 9.5  # the GCS link sees the flight the agent link commanded
        hb = gcs.recv_match(type="HEARTBEAT", blocking=True, timeout=5)
        assert hb.custom_mode == 4 and hb.base_mode & 128
        for m in (agent, gcs, other):
            m.close()


def test_routing_between_gcs_and_camera_component_on_agent_link():
    with SimulatorProcess(speedup=5, fast_boot=True) as sim:
        gcs = connect(sim.gcs_connection)
        camera = connect(sim.agent_connection, sysid=1, compid=100)
        camera.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_CAMERA,
                                  mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        gcs.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS,
                               mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        time.sleep(0.2)
        gcs.mav.command_long_send(1, 100, 2500, 0, 0, 0, 0, 0, 0, 0, 0)
        got = camera.recv_match(type="COMMAND_LONG", blocking=True, timeout=5)
        assert got is not None and got.command == 2500 and got.get_srcSystem() == 255
        camera.mav.command_ack_send(2500, 0, 0, 0, 255, 190)
        reply = None
        end = time.monotonic() + 5
        while time.monotonic() < end:
            reply = gcs.recv_match(type="COMMAND_ACK", blocking=True, timeout=1)
            if reply is not None and reply.get_srcComponent() == 100:
                break
        assert reply is not None and reply.get_srcComponent() == 100 and reply.result == 0
        camera.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_CAMERA,
                                  mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        cam_hb = None
        end = time.monotonic() + 5
        while time.monotonic() < end:
            msg = gcs.recv_match(type="HEARTBEAT", blocking=True, timeout=1)
            if msg is not None and msg.get_srcComponent() == 100:
                cam_hb = msg
                break
        assert cam_hb is not None and cam_hb.type == mavutil.mavlink.MAV_TYPE_CAMERA
        # a command for the autopilot from the GCS is answered by the autopilot, not forwarded
        gcs.mav.command_long_send(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)
        assert ack(gcs, 31999) == 3
        assert camera.recv_match(type="COMMAND_LONG", blocking=True, timeout=1) is None
        gcs.close()
        camera.close()


def test_udp_link_gets_telemetry_and_answers():
    with SimulatorProcess(speedup=5, fast_boot=True, udp_port=0) as sim:
        m = mavutil.mavlink_connection(sim.udp_connection, source_system=255, source_component=190)
        m.mav.heartbeat_send(6, 8, 0, 0, 0)
        assert m.wait_heartbeat(timeout=10) is not None
        m.mav.command_long_send(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)
        assert ack(m, 31999) == 3
        m.close()


def test_bad_parameter_is_reported_as_environment_fault():
    with pytest.raises(EnvironmentFault, match="NO_SUCH_PARAM"):
        SimulatorProcess(params={"NO_SUCH_PARAM": 1}).start()


def test_cli_runs_in_foreground_with_mjpeg_camera(tmp_path):
    import json
    import re
    import signal
    import subprocess
    import sys

    import cv2

    zones = tmp_path / "zones.geojson"
    zones.write_text(json.dumps({"type": "Polygon", "coordinates": [[
        [0.5220, 51.2700], [0.5234, 51.2700], [0.5234, 51.2710], [0.5220, 51.2710],
        [0.5220, 51.2700]]]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "drone_agent", "sim", "--home", "51.2705,0.5227,30", "--port", "0",
         "--gcs-port", "0", "--fast-boot", "--camera", "160x120@5", "--camera-port", "0",
         "--privacy-zones", str(zones), "--ground-truth", "--param", "SIM_WIND_SPD=3"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        agent = re.search(r"agent tcp:(\S+)", line).group(1)
        url = re.search(r"camera (http://\S+)", line).group(1)
        m = connect(f"tcp:{agent}")
        cap = cv2.VideoCapture(url)
        ok, img = cap.read()
        cap.release()
        assert ok and img.shape == (120, 160, 3)
        # on the ground at home, inside the zone: the view is all ground-truth magenta
        assert (img[60, 80].astype(int) - (255, 0, 255)).__abs__().max() < 40  # JPEG tolerance
        m.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
