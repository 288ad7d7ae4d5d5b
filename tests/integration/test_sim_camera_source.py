"""SimFrameSource over a real simulator: frames follow the vehicle clock, the vehicle and the gimbal."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pymavlink import mavutil

from drone_agent.sim import SimulatorProcess
from drone_agent.sim.camera import CameraSpec, SimFrameSource, SyntheticCamera, count_reserved
from drone_agent.sim.geo import Origin

pytestmark = pytest.mark.slow
HOME = (51.2705, 0.5227, 30.0)


def command(m: mavutil.mavfile, cmd: int, *p: float) -> None:
    params = list(p) + [0.0] * (7 - len(p))
    m.mav.command_long_send(1, 1, cmd, 0, *params)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        ack = m.recv_match(type="COMMAND_ACK", blocking=True, timeout=1)
        if ack is not None and ack.command == cmd:
            assert ack.result == 0
            return
    raise AssertionError(f"no ACK for {cmd}")


def test_frames_are_stamped_with_vehicle_time_and_follow_vehicle_and_gimbal():
    o = Origin(*HOME)
    zone = [[o.to_geo(n, e)[::-1] for n, e in [(20, -10), (40, -10), (40, 10), (20, 10), (20, -10)]]]
    cam = SyntheticCamera(HOME, CameraSpec(160, 120, 78, 10), seed=0, privacy_polygons=[zone],
                          ground_truth=True)
    with SimulatorProcess(HOME, speedup=5, fast_boot=True) as sim:
        pilot = mavutil.mavlink_connection(sim.agent_connection, source_system=255)
        pilot.wait_heartbeat(timeout=10)
        time.sleep(0.3)
        command(pilot, 176, 1, 4)
        command(pilot, 400, 1)
        command(pilot, 22, 0, 0, 0, 0, 0, 0, 20)
        with SimFrameSource(sim.gcs_connection, cam) as source:
            altitude_reached = False
            for _, _img in source.frames(max_frames=400):
                msg = pilot.recv_match(type="GLOBAL_POSITION_INT", blocking=False)
                while msg is not None:
                    altitude_reached = altitude_reached or msg.relative_alt > 19_500
                    msg = pilot.recv_match(type="GLOBAL_POSITION_INT", blocking=False)
                if altitude_reached:
                    break
            assert altitude_reached
            frames = list(source.frames(max_frames=5))
            gaps = np.diff([t for t, _ in frames])
            # 10 fps of vehicle time; a consumer that falls behind loses whole frames, never timing
            assert all(g >= 80 and min(g % 100, 100 - g % 100) <= 20 for g in gaps), gaps
            assert count_reserved(frames[-1][1]) == 0  # nadir from 20 m: the zone is out of view
            command(pilot, 205, -45.0, 0, 0, 0, 0, 0, 2)  # look 45 deg down towards the north
            seen = 0
            for _, img in source.frames(max_frames=40):  # the gimbal slews at 90 deg/s
                seen = count_reserved(img)
                if seen > 100:
                    break
            assert seen > 100
        pilot.close()
