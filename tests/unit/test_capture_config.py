"""[camera] and [trigger] profile sections: defaults, validation, InputError with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.capture.camera import FixedMount, GimbalMount
from drone_agent.capture.config import load_camera_file, parse_camera_section, parse_trigger_section
from drone_agent.errors import InputError


def test_minimal_camera_section_defaults() -> None:
    cfg = parse_camera_section({"width_px": 1920, "height_px": 1080, "hfov_deg": 82})
    assert cfg.segment_s == 4.0 and cfg.component_id == 100 and cfg.mount == "gimbal"
    model = cfg.camera_model()
    assert model.width_px == 1920 and model.hfov_deg == pytest.approx(82.0)
    assert cfg.mount_model() == GimbalMount(0)
    assert cfg.uncertainty().position_error_m == 3.0
    assert cfg.encoder_settings().preset == "ultrafast"
    assert cfg.identity().hfov_deg == pytest.approx(82.0)


def test_calibrated_fixed_camera() -> None:
    cfg = parse_camera_section(
        {
            "width_px": 640,
            "height_px": 480,
            "matrix": [[500, 0, 320], [0, 500, 240], [0, 0, 1]],
            "distortion": [-0.1, 0.01, 0, 0, 0],
            "mount": "fixed",
            "mount_pitch_deg": -45,
            "source": 2,
        }
    )
    assert cfg.camera_model().has_distortion and cfg.source == "2"
    assert cfg.mount_model() == FixedMount(0.0, -45.0, 0.0)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "zoom": 2}, "unknown key zoom"),
        ({"width_px": 640, "height_px": 480}, "exactly one of hfov_deg or matrix"),
        ({"width_px": 640, "hfov_deg": 60}, "required"),
        ({"width_px": 641, "height_px": 480, "hfov_deg": 60}, "641x480"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": "wide"}, "hfov_deg = 'wide': must be a number"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 200}, "within 1.0..170.0"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "mount": "helmet"}, "one of gimbal, fixed"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "component_id": 1}, "component_id"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "crf": True}, "whole number"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "mask_outside_area": 1}, "true or false"),
        ({"width_px": 640, "height_px": 480, "matrix": [[1, 2], [3, 4]]}, "3x3"),
        ({"width_px": 640, "height_px": 480, "hfov_deg": 60, "distortion": [0.1]}, "needs a calibration"),
        (
            {"width_px": 640, "height_px": 480, "matrix": [[500, 0, 320], [0, 500, 240], [0, 0, 1]], "distortion": [-0.9, 0, 0, 0, 0]},
            "camera model invalid",
        ),
    ],
)
def test_camera_section_errors(table: dict, match: str) -> None:
    with pytest.raises(InputError, match=match) as exc:
        parse_camera_section(table)
    assert exc.value.exit_code == 2 and exc.value.hint


def test_trigger_section() -> None:
    cfg = parse_trigger_section({})
    assert cfg.pre_event_s == 0.0 and cfg.rc_switch() is None  # pre-event buffer off by default
    cfg = parse_trigger_section({"rc_channel": 7, "rc_active": "low", "pre_event_s": 10, "pilot_key": "v"})
    rc = cfg.rc_switch()
    assert rc is not None and rc.channel == 7 and not rc.active_high and cfg.pre_event_s == 10.0
    for table, match in (
        ({"pre_event_s": 121}, "pre_event_s"),
        ({"rc_channel": 19}, "rc_channel"),
        ({"pilot_key": "rr"}, "one printable character"),
        ({"rc_active": "up"}, "high, low"),
        ({"colour": 1}, "unknown key colour"),
    ):
        with pytest.raises(InputError, match=match):
            parse_trigger_section(table)


def test_load_camera_file(tmp_path: Path) -> None:
    good = tmp_path / "camera.toml"
    good.write_text('[camera]\nwidth_px = 320\nheight_px = 240\nhfov_deg = 70\n')
    assert load_camera_file(good).width_px == 320
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera\n")
    with pytest.raises(InputError, match="not readable TOML"):
        load_camera_file(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("[trigger]\n")
    with pytest.raises(InputError, match=r"no \[camera\] table"):
        load_camera_file(empty)
    with pytest.raises(InputError, match="no such file"):
        load_camera_file(tmp_path / "missing.toml")
    with pytest.raises(InputError, match=str(good.name)):
        good.write_text('[camera]\nwidth_px = 320\nheight_px = 240\nhfov_deg = 70\nfov = 1\n')
        load_camera_file(good)
