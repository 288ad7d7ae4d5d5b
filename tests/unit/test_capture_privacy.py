"""Privacy masking: solid black, widened by pose uncertainty, failing closed."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon, box

from drone_agent.capture.camera import CameraModel, GimbalMount
from drone_agent.capture.pose import CameraPose, PoseEstimate, PoseTrack
from drone_agent.capture.privacy import PoseUncertainty, PrivacyMasker, PrivacyZone, zones_from_local
from drone_agent.capture.rotation import quat_from_euler
from drone_agent.capture.testing import (
    FlatEarthFrame,
    TruthCamera,
    TruthPose,
    reserved_pixels,
    telemetry,
)

CAM = CameraModel.from_hfov(320, 240, 70.0)
FRAME = FlatEarthFrame(51.2705, 0.5227)
EXACT = PoseUncertainty(attitude_error_deg=0.0, position_error_m=0.0, timing_skew_s=0.0)


def _estimate(pose: TruthPose, t_ms: int = 1000) -> PoseEstimate:
    track = PoseTrack(GimbalMount(), FRAME.to_local)
    for msg in telemetry(pose, FRAME, t_ms):
        track.add_message(msg)
    return track.at(t_ms)


def _grey() -> np.ndarray:
    return np.full((240, 320, 3), 128, np.uint8)


def test_nadir_square_is_black_with_exact_pose() -> None:
    zone = PrivacyZone("yard", box(-5, -5, 5, 5))
    frame = _grey()
    result = PrivacyMasker(CAM, [zone], EXACT).apply(frame, _estimate(TruthPose(0, 0, 50)))
    assert not result.full_frame and result.zones == ("yard",)
    # 10 m at 50 m altitude with f = 228.5 px → ±22.9 px around the centre, plus the 1.5 px
    # rasterisation pad
    black = np.all(frame == 0, axis=2)
    ys, xs = np.nonzero(black)
    assert 160 - 26 < xs.min() < 160 - 21 and 160 + 21 < xs.max() < 160 + 26
    assert 120 - 26 < ys.min() < 120 - 21 and 120 + 21 < ys.max() < 120 + 26
    assert frame[0, 0].tolist() == [128, 128, 128]
    assert result.fraction == pytest.approx(black.mean(), abs=0.02)


def test_uncertainty_widens_the_mask() -> None:
    zone = PrivacyZone("yard", box(-5, -5, 5, 5))
    narrow, wide = _grey(), _grey()
    PrivacyMasker(CAM, [zone], EXACT).apply(narrow, _estimate(TruthPose(0, 0, 50)))
    result = PrivacyMasker(CAM, [zone], PoseUncertainty(attitude_error_deg=2.0, position_error_m=2.0)).apply(
        wide, _estimate(TruthPose(0, 0, 50))
    )
    n_narrow = np.count_nonzero(np.all(narrow == 0, axis=2))
    n_wide = np.count_nonzero(np.all(wide == 0, axis=2))
    assert result.pad_px > 10 and n_wide > n_narrow * 1.5
    assert np.all(wide[np.all(narrow == 0, axis=2)] == 0)  # the wide mask contains the narrow one


def test_zone_out_of_view_leaves_frame_untouched() -> None:
    frame = _grey()
    zone = PrivacyZone("far", box(400, 400, 420, 420))
    result = PrivacyMasker(CAM, [zone]).apply(frame, _estimate(TruthPose(0, 0, 30)))
    assert not result.full_frame and result.fraction == 0.0 and np.all(frame == 128)


@pytest.mark.parametrize(
    ("pose", "zone", "reason"),
    [
        (TruthPose(0, 0, 30, gimbal_pitch_deg=-5), box(-200, 50, 200, 3000), "horizon"),
        (TruthPose(0, 0, 2, gimbal_pitch_deg=-90), box(-5, -5, 5, 5), "position uncertainty"),
        (TruthPose(1, 1, 30, gimbal_pitch_deg=-90), box(-5, -5, 5, 5), None),
    ],
)
def test_fail_closed_geometry(pose: TruthPose, zone: Polygon, reason: str | None) -> None:
    frame = _grey()
    result = PrivacyMasker(CAM, [PrivacyZone("z", zone)]).apply(frame, _estimate(pose))
    if reason is None:
        assert not result.full_frame
    else:
        assert result.full_frame and reason in result.reason and not frame.any()


def test_unknown_pose_blanks_frame_and_says_why() -> None:
    frame = _grey()
    result = PrivacyMasker(CAM, [PrivacyZone("z", box(0, 0, 1, 1))]).apply(
        frame, PoseEstimate(None, "ATTITUDE 0.90 s from frame time")
    )
    assert result.full_frame and result.fraction == 1.0 and not frame.any()
    assert result.reason == "pose unknown: ATTITUDE 0.90 s from frame time"


def test_wrong_frame_size_and_non_finite_pose_fail_closed() -> None:
    masker = PrivacyMasker(CAM, [PrivacyZone("z", box(0, 0, 1, 1))])
    small = np.full((120, 160, 3), 99, np.uint8)
    assert masker.apply(small, _estimate(TruthPose(0, 0, 30))).full_frame and not small.any()
    pose = CameraPose(0, np.array([np.nan, 0, 30]), quat_from_euler(0, -1.5, 0), 0.0, 0.0, 0.0)
    frame = _grey()
    result = masker.apply(frame, PoseEstimate(pose))
    assert result.full_frame and "not finite" in result.reason and not frame.any()


def test_extruded_zone_masks_walls_seen_obliquely() -> None:
    house = box(20, -5, 30, 5)
    pose = TruthPose(0, 0, 12, yaw_deg=90, gimbal_pitch_deg=-15)  # looking east at the house
    flat = PrivacyZone("house", house, 0.0, 0.0)
    tall = PrivacyZone("house", house, 0.0, 9.0)
    truth = TruthCamera(CAM, (tall,)).render(pose)
    assert reserved_pixels(truth) > 500
    leaked = truth.copy()
    PrivacyMasker(CAM, [flat], EXACT).apply(leaked, _estimate(pose))
    assert reserved_pixels(leaked) > 0  # the flat footprint misses the walls
    masked = truth.copy()
    PrivacyMasker(CAM, [tall], EXACT).apply(masked, _estimate(pose))
    assert reserved_pixels(masked) == 0


def test_zones_from_fence_tuples() -> None:
    zones = zones_from_local([("School", box(0, 0, 5, 5), 0.0, 120.0)], terrain_up_m=-3.0, structure_height_m=6.0)
    assert zones == (PrivacyZone("School", box(0, 0, 5, 5), -3.0, 6.0),)


def test_invalid_zone_polygon_rejected() -> None:
    bow_tie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    with pytest.raises(ValueError, match="bow"):
        PrivacyMasker(CAM, [PrivacyZone("bow", bow_tie)])


def test_mask_outside_operation_area() -> None:
    from drone_agent.capture.privacy import OUTSIDE_AREA

    area = box(-20, -15, 20, 15)
    frame = _grey()
    masker = PrivacyMasker(CAM, [], EXACT, keep_inside=area)
    result = masker.apply(frame, _estimate(TruthPose(0, 0, 30)))
    assert result.zones == (OUTSIDE_AREA,) and 0.1 < result.fraction < 0.9
    assert frame[120, 160].tolist() == [128, 128, 128]  # the area's centre is kept
    assert not frame[0, 0].any() and not frame[239, 319].any()  # ground outside is black
    looking_up = _grey()
    masker.apply(looking_up, _estimate(TruthPose(0, 0, 30, gimbal_pitch_deg=10)))
    assert not looking_up.any()  # sky: nothing of the area is seen
    with pytest.raises(ValueError):
        PrivacyMasker(CAM, [], keep_inside=Polygon())
