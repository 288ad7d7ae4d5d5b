"""The leak test against the simulator: its ground-truth camera paints privacy zones magenta; the
vehicle flies at several altitudes, headings and gimbal angles with GPS noise (the simulator's) and
attitude noise (added here); every frame goes through the Recorder; 0 magenta pixels may remain,
checked exactly on each masked frame and near-colour on the decoded H.264."""

from __future__ import annotations

import dataclasses
import io
import math
import time
from datetime import datetime, timezone

import av
import numpy as np
import pytest
from pymavlink import mavutil
from shapely.geometry import Polygon

from drone_agent.capture.camera import CameraModel, GimbalMount
from drone_agent.capture.pose import AttitudeSample, GimbalSample, PoseTrack, PositionSample, pose_sample
from drone_agent.capture.privacy import PoseUncertainty, PrivacyMasker, PrivacyZone
from drone_agent.capture.recorder import BootClock, Recorder, SegmentMeta
from drone_agent.capture.rotation import quat_from_euler, quat_multiply
from drone_agent.capture.sources import SimCameraSource
from drone_agent.capture.testing import near_reserved_pixels, reserved_pixels
from drone_agent.capture.trigger import EvidenceTrigger
from drone_agent.geofence import GeoPoint, LocalFrame
from drone_agent.sim import SimulatorProcess
from drone_agent.sim.camera import CameraSpec, SimFrameSource, SyntheticCamera
from drone_agent.sim.terrain import Terrain

pytestmark = pytest.mark.slow
HOME = (51.2705, 0.5227, 30.0)
ZONES_NE = {
    "Garden of No. 3": [(20.0, -15.0), (45.0, -15.0), (45.0, 5.0), (30.0, 12.0), (20.0, 5.0)],
    "Playground": [(-35.0, 10.0), (-10.0, 22.0), (-25.0, 42.0), (-40.0, 30.0)],
}
# (north, east, up, vehicle yaw, gimbal pitch, gimbal yaw relative to the vehicle), 3 s each
PHASES = [
    (0.0, 0.0, 20.0, 0.0, -90.0, 0.0),
    (0.0, -5.0, 20.0, 0.0, -45.0, 0.0),
    (5.0, 5.0, 35.0, 200.0, -55.0, 0.0),
    (0.0, 0.0, 35.0, 90.0, -35.0, 60.0),
    (10.0, -10.0, 50.0, 300.0, -70.0, -20.0),
]
FRAMES_PER_PHASE = 30


def _command(m, cmd: int, *p: float, target: int = 1, timeout_s: float = 20.0) -> None:
    """Send until ACCEPTED (arming is refused until the simulated EKF has a position)."""
    params = list(p) + [0.0] * (7 - len(p))
    end = time.monotonic() + timeout_s
    result = None
    while time.monotonic() < end:
        m.mav.command_long_send(1, target, cmd, 0, *params)
        ack = m.recv_match(type="COMMAND_ACK", blocking=True, timeout=1)
        while ack is not None and ack.command != cmd:
            ack = m.recv_match(type="COMMAND_ACK", blocking=True, timeout=1)
        if ack is not None:
            result = ack.result
            if result == 0:
                return
            time.sleep(0.2)
    raise AssertionError(f"command {cmd} not accepted (last result {result})")


def _wait_for_altitude(link, alt_m: float, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        msg = link.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=1)
        if msg is not None and msg.relative_alt >= alt_m * 1000:
            return
    raise AssertionError(f"the simulated vehicle did not climb to {alt_m} m")


class NoisyTelemetry:
    """Feeds the PoseTrack from the agent link, adding attitude noise within the budget."""

    def __init__(self, link, track: PoseTrack, seed: int) -> None:
        self.link, self.track = link, track
        self.rng = np.random.default_rng(seed)
        self.latest_ms = -1

    def _noisy(self, sample):
        a = lambda: math.radians(float(self.rng.uniform(-0.6, 0.6)))  # noqa: E731
        if isinstance(sample, AttitudeSample):
            return dataclasses.replace(sample, yaw_rad=sample.yaw_rad + a())
        if isinstance(sample, GimbalSample):
            q = quat_multiply(np.array(sample.q_wxyz), quat_from_euler(a(), a(), a()))
            return dataclasses.replace(sample, q_wxyz=tuple(float(v) for v in q))
        return sample  # position: the simulator's own GPS error

    def until(self, time_boot_ms: int, timeout_s: float = 3.0) -> None:
        end = time.monotonic() + timeout_s
        while self.latest_ms < time_boot_ms and time.monotonic() < end:
            msg = self.link.recv_match(
                type=["GLOBAL_POSITION_INT", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS"], blocking=True, timeout=0.2
            )
            if msg is None:
                continue
            sample = pose_sample(msg)
            if sample is None:
                continue
            self.track.add(self._noisy(sample))
            if isinstance(sample, (AttitudeSample, PositionSample)):
                self.latest_ms = max(self.latest_ms, sample.time_boot_ms)


def test_simulator_ground_truth_never_leaks() -> None:
    frame = LocalFrame(GeoPoint(*HOME))
    terrain = Terrain(HOME[2], 0)
    rings, zones = [], []
    for name, ne in ZONES_NE.items():
        closed = ne + [ne[0]]
        rings.append([[frame.to_geo(e, n)[::-1] for n, e in closed]])
        polygon = Polygon([(e, n) for n, e in ne])
        centre = polygon.centroid
        zones.append(PrivacyZone(name, polygon, terrain.height_amsl_m(centre.y, centre.x) - HOME[2]))
    spec = CameraSpec(160, 120, 78.0, 10.0)
    sim_camera = SyntheticCamera(HOME, spec, seed=0, privacy_polygons=rings, ground_truth=True)
    camera = CameraModel.from_hfov(spec.width_px, spec.height_px, spec.hfov_deg)
    track = PoseTrack(GimbalMount(), frame.to_local, max_age_s=0.5)
    segments: list[tuple[bytes, SegmentMeta]] = []
    trigger = EvidenceTrigger()
    recorder = Recorder(
        # The simulator's camera poses its gimbal from the last GIMBAL_DEVICE_ATTITUDE_STATUS it
        # received (at the camera rate, 10 Hz) but stamps the frame with the newest message time:
        # its image can lag its stamp by up to one camera period. That is the timing skew to budget.
        PrivacyMasker(
            camera, zones, PoseUncertainty(attitude_error_deg=1.5, position_error_m=3.0, timing_skew_s=0.12)
        ),
        track,
        trigger,
        lambda data, meta: segments.append((data, meta)),
        BootClock(0),
        segment_s=3.0,
    )
    params = {"SIM_GPS1_NOISE": 0.7, "FENCE_ENABLE": 0}
    painted = leaked = masked_frames = partial = 0
    with SimulatorProcess(HOME, speedup=4.0, fast_boot=True, params=params) as sim:
        link = mavutil.mavlink_connection(sim.agent_connection, source_system=255, dialect="ardupilotmega")
        try:
            assert link.wait_heartbeat(timeout=10) is not None
            for msg_id in (33, 30, 285):
                _command(link, 511, msg_id, 50_000)
            _command(link, 176, 1, 4)
            _command(link, 400, 1)
            _command(link, 176, 1, 4)  # like ArduPilot, a mode set before "Ready" does not stick
            _command(link, 22, 0, 0, 0, 0, 0, 0, 20)
            _wait_for_altitude(link, 15.0)
            telemetry = NoisyTelemetry(link, track, seed=11)
            with SimFrameSource(sim.gcs_connection, sim_camera) as sim_source:
                frames = iter(SimCameraSource(sim_source.frames()))
                trigger.start("pilot", datetime.now(timezone.utc), operator="test")
                for north, east, up, yaw, pitch, gimbal_yaw in PHASES:
                    link.mav.set_position_target_local_ned_send(
                        0, 1, 1, mavutil.mavlink.MAV_FRAME_LOCAL_NED, 0b100111111000,
                        north, east, -up, 0, 0, 0, 0, 0, 0, math.radians(yaw), 0,
                    )
                    _command(link, 205, pitch, 0, gimbal_yaw, 0, 0, 0, 2)
                    for _ in range(FRAMES_PER_PHASE):
                        item = next(frames)
                        telemetry.until(item.time_boot_ms + 60)
                        painted += reserved_pixels(item.image) > 0
                        result = recorder.on_frame(item.time_boot_ms, item.image)
                        assert result is not None
                        leaked += reserved_pixels(item.image)
                        masked_frames += result.fraction > 0
                        partial += 0.0 < result.fraction < 0.8 and not result.full_frame
                recorder.close()
        finally:
            link.close()
    assert leaked == 0
    assert painted >= 40, painted  # the flight really looked at the zones
    assert partial >= 12, partial  # and masking kept most of the picture in many frames
    decoded = 0
    for data, _meta in segments:
        with av.open(io.BytesIO(data)) as container:
            for video_frame in container.decode(video=0):
                assert near_reserved_pixels(video_frame.to_ndarray(format="bgr24")) == 0
                decoded += 1
    assert decoded == len(PHASES) * FRAMES_PER_PHASE
    assert {name for _, m in segments for name in m.masked_zones} == set(ZONES_NE)
