"""Camera model and pose conventions: OpenCV intrinsics, MAVLink attitudes, gimbal yaw frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drone_agent.capture.camera import CameraModel, FixedMount, GimbalMount
from drone_agent.capture.pose import PoseTrack, pose_sample
from drone_agent.capture.rotation import matrix_from_quat, quat_from_euler, quat_slerp
from drone_agent.capture.testing import FlatEarthFrame, TruthPose, telemetry, truth_enu_from_cv

FRAME = FlatEarthFrame(51.2705, 0.5227)


def test_hfov_gives_pinhole_focal_length() -> None:
    cam = CameraModel.from_hfov(640, 480, 90.0)
    assert cam.matrix[0, 0] == pytest.approx(320.0)
    assert cam.matrix[0, 2] == 319.5 and cam.matrix[1, 2] == 239.5  # pixel centres are integers
    assert cam.view_limits == pytest.approx((1.0, 0.75), rel=1e-6)
    assert cam.hfov_deg == pytest.approx(90.0)
    assert cam.pixel_gain == pytest.approx(320.0)
    # a point 45° to the right lands on the right edge of the last pixel
    assert cam.project(np.array([[1.0, 0.0, 1.0]]))[0] == pytest.approx([639.5, 239.5])


def test_calibration_with_distortion_matches_opencv_and_rejects_folding() -> None:
    matrix = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    cam = CameraModel.from_calibration(320, 240, matrix, np.array([-0.2, 0.05, 0, 0, 0]))
    assert cam.has_distortion and cam.view_limits[0] > 160 / 300  # barrel: wider than pinhole
    point = cam.project(np.array([[0.3, -0.2, 1.0]]))[0]
    r2 = 0.3**2 + 0.2**2
    factor = 1 - 0.2 * r2 + 0.05 * r2**2
    assert point == pytest.approx([160 + 300 * 0.3 * factor, 120 - 300 * 0.2 * factor])
    with pytest.raises(ValueError, match="folds"):
        CameraModel.from_calibration(320, 240, matrix, np.array([-0.9, 0.0, 0, 0, 0]))
    with pytest.raises(ValueError):
        CameraModel.from_hfov(320, 240, 0.5)


def _track_for(pose: TruthPose, mount, yaw_in_vehicle_frame: bool = True) -> PoseTrack:
    track = PoseTrack(mount, FRAME.to_local)
    for msg in telemetry(pose, FRAME, 5000, yaw_in_vehicle_frame=yaw_in_vehicle_frame):
        track.add_message(msg)
    return track


@pytest.mark.parametrize("vehicle_frame", [True, False])
@pytest.mark.parametrize(
    "pose",
    [
        TruthPose(0, 0, 30),
        TruthPose(3, -4, 50, roll_deg=5, pitch_deg=-8, yaw_deg=135, gimbal_pitch_deg=-40),
        TruthPose(-10, 7, 20, yaw_deg=-100, gimbal_roll_deg=3, gimbal_pitch_deg=-10, gimbal_yaw_deg=25),
    ],
)
def test_gimbal_pose_matches_independent_matrices(pose: TruthPose, vehicle_frame: bool) -> None:
    est = _track_for(pose, GimbalMount(), vehicle_frame).at(5000)
    assert est.pose is not None, est.reason
    assert est.pose.position_enu_m == pytest.approx([pose.east_m, pose.north_m, pose.up_m], abs=0.02)
    expected = truth_enu_from_cv(pose).T  # cv_from_enu
    assert est.pose.cv_from_enu == pytest.approx(expected, abs=1e-6)


def test_fixed_mount_composes_vehicle_attitude_and_offset() -> None:
    pose = TruthPose(0, 0, 40, roll_deg=4, pitch_deg=-6, yaw_deg=70)
    est = _track_for(pose, FixedMount(0.0, -90.0, 0.0)).at(5000)
    assert est.pose is not None
    # camera looks straight down in the body frame: optical axis = body z (down) in earth NED
    r = math.radians
    q_body = quat_from_euler(r(4), r(-6), r(70))
    axis_enu = est.pose.cv_from_enu.T @ np.array([0, 0, 1.0])
    down_ned = matrix_from_quat(q_body) @ np.array([0, 0, 1.0])
    assert axis_enu == pytest.approx([down_ned[1], down_ned[0], -down_ned[2]], abs=1e-9)


def test_forward_looking_camera_axes() -> None:
    """Gimbal level, heading east: optical axis east, image right is south, image down is down."""
    pose = TruthPose(0, 0, 10, yaw_deg=90, gimbal_pitch_deg=0)
    est = _track_for(pose, GimbalMount()).at(5000)
    assert est.pose is not None
    r = est.pose.cv_from_enu
    assert r @ np.array([1.0, 0, 0]) == pytest.approx([0, 0, 1], abs=1e-9)  # east → forward
    assert r @ np.array([0, -1.0, 0]) == pytest.approx([1, 0, 0], abs=1e-9)  # south → right
    assert r @ np.array([0, 0, -1.0]) == pytest.approx([0, 1, 0], abs=1e-9)  # down → image down


def test_pose_interpolates_and_goes_stale() -> None:
    track = PoseTrack(GimbalMount(), FRAME.to_local, max_age_s=0.3)
    for t, pose in ((1000, TruthPose(0, 0, 30, yaw_deg=0)), (1200, TruthPose(10, 0, 40, yaw_deg=20))):
        for msg in telemetry(pose, FRAME, t):
            track.add_message(msg)
    mid = track.at(1100).pose
    assert mid is not None
    assert mid.position_enu_m == pytest.approx([5, 0, 35], abs=0.02)
    assert mid.age_s == pytest.approx(0.1)
    assert mid.angular_rate_rps > 0.0  # implied by the two attitudes
    assert track.at(1400).pose is not None  # 0.2 s after the last sample: held
    stale = track.at(1600)
    assert stale.pose is None and "0.40 s" in stale.reason
    assert track.at(500).pose is None  # before any telemetry


def test_missing_streams_make_pose_unknown() -> None:
    track = PoseTrack(GimbalMount(), FRAME.to_local)
    assert "GLOBAL_POSITION_INT" in track.at(0).reason
    position, attitude, _gimbal = telemetry(TruthPose(0, 0, 30), FRAME, 1000)
    track.add_message(position)
    assert "ATTITUDE" in track.at(1000).reason
    track.add_message(attitude)
    assert "GIMBAL_DEVICE_ATTITUDE_STATUS" in track.at(1000).reason
    assert _track_for(TruthPose(0, 0, 30), FixedMount()).at(5000).pose is not None


def test_reboot_clears_track_and_other_gimbals_ignored() -> None:
    track = _track_for(TruthPose(0, 0, 30), GimbalMount(device_id=2))
    assert "GIMBAL" in track.at(5000).reason  # telemetry() reports gimbal_device_id 1
    track = _track_for(TruthPose(0, 0, 30), GimbalMount())
    for msg in telemetry(TruthPose(0, 0, 30), FRAME, 100):  # time went back 4.9 s: reboot
        track.add_message(msg)
    assert track.at(5000).pose is None and track.at(100).pose is not None


def test_pose_sample_ignores_other_messages_and_nan_quaternions() -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    mav = mavlink.MAVLink(None)
    assert pose_sample(mav.heartbeat_encode(2, 3, 0, 0, 0)) is None
    nan = float("nan")
    msg = mav.gimbal_device_attitude_status_encode(1, 1, 10, 0, [nan, 0, 0, 0], 0, 0, 0, 0)
    assert pose_sample(msg) is None
    msg = mav.gimbal_device_attitude_status_encode(1, 1, 10, 0, [0, 0, 0, 0], 0, 0, 0, 0)
    assert pose_sample(msg) is None
    no_fix = mav.global_position_int_encode(10, 0, 0, 0, 0, 0, 0, 0, 0)
    assert pose_sample(no_fix) is None  # ArduPilot before the EKF origin


def test_slerp_midpoint() -> None:
    a = quat_from_euler(0, 0, 0)
    b = quat_from_euler(0, 0, math.radians(90))
    assert quat_slerp(a, b, 0.5) == pytest.approx(quat_from_euler(0, 0, math.radians(45)))
