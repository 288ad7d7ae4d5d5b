"""The synthetic camera: ground image, projection geometry, ground-truth privacy painting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drone_agent.errors import InputError
from drone_agent.sim.camera import (CameraPose, CameraSpec, SyntheticCamera, count_reserved,
                                    load_privacy_geojson, privacy_polygons_from_geojson)
from drone_agent.sim.geo import Origin
from drone_agent.sim.ground import RESERVED_BGR, make_ground_texture

HOME = (51.2705, 0.5227, 30.0)
ORIGIN = Origin(*HOME)


def ring(ne_points):
    pts = [ORIGIN.to_geo(n, e)[::-1] for n, e in ne_points]
    return pts + [pts[0]]


def square(n0, e0, n1, e1):
    return [ring([(n0, e0), (n1, e0), (n1, e1), (n0, e1)])]


@pytest.fixture(scope="module")
def texture():
    return make_ground_texture(seed=1)


def test_ground_texture_never_contains_reserved_colour_and_looks_varied(texture):
    assert count_reserved(texture) == 0
    colours = np.unique(texture.reshape(-1, 3)[::97], axis=0)
    assert len(colours) > 200  # roads, roofs, gardens, noise


def test_nadir_zone_size_and_position_match_pinhole_geometry():
    spec = CameraSpec(640, 480, 90.0, 10)
    cam = SyntheticCamera(HOME, spec, seed=1, privacy_polygons=[square(0, -10, 20, 10)],
                          ground_truth=True)
    # 60 m above the ground (terrain at home = 30 m AMSL); hfov 90: 120 m across 640 px
    img = cam.render(CameraPose(0.0, 0.0, 90.0, 0.0, -90.0))
    ys, xs = np.nonzero((img == RESERVED_BGR).all(axis=-1))
    px_per_m = 640 / 120.0
    assert xs.max() - xs.min() + 1 == pytest.approx(20 * px_per_m, abs=2)
    assert ys.max() - ys.min() + 1 == pytest.approx(20 * px_per_m, abs=2)
    assert ys.max() < 240 + 2 and ys.min() > 240 - 20 * px_per_m - 3  # north is up
    assert abs((xs.min() + xs.max()) / 2 - 320) < 2


def test_heading_rotates_the_view():
    cam = SyntheticCamera(HOME, CameraSpec(200, 200, 60, 10), seed=1,
                          privacy_polygons=[square(20, -3, 26, 3)], ground_truth=True)
    east = cam.render(CameraPose(0, 0, 80, 90.0, -90.0))  # camera heading east: north is left
    ys, xs = np.nonzero((east == RESERVED_BGR).all(axis=-1))
    assert xs.mean() < 100 and abs(ys.mean() - 100) < 3


def test_normal_mode_has_no_reserved_pixels_even_over_zones():
    cam = SyntheticCamera(HOME, CameraSpec(160, 120, 78, 10), seed=2,
                          privacy_polygons=[square(-50, -50, 50, 50)], ground_truth=False)
    for pose in (CameraPose(0, 0, 60, 0, -90), CameraPose(0, 0, 60, 45, -20)):
        assert count_reserved(cam.render(pose)) == 0


def test_horizon_shows_sky_and_zone_behind_camera_is_not_painted():
    cam = SyntheticCamera(HOME, CameraSpec(160, 120, 78, 10), seed=2,
                          privacy_polygons=[square(-60, -20, -20, 20)], ground_truth=True)
    img = cam.render(CameraPose(0, 0, 60, 0, 0.0))  # level, looking north
    assert (img[0] == img[0, 0]).all()  # sky row
    assert count_reserved(img) == 0


def test_geojson_parsing(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[0.52, 51.27], [0.53, 51.27], [0.53, 51.28],
                                                [0.52, 51.27]]]}},
        {"type": "Feature", "properties": {}, "geometry": {
            "type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]],
                                                    [[[2, 2], [3, 2], [3, 3], [2, 2]]]]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
    ]}
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(fc))
    polys = load_privacy_geojson(path)
    assert len(polys) == 3 and polys[0][0][1] == (0.53, 51.27)
    with pytest.raises(InputError):
        privacy_polygons_from_geojson({"type": "Polygon", "coordinates": [[["x"]]]})
    with pytest.raises(InputError):
        load_privacy_geojson(tmp_path / "missing.geojson")


def test_camera_spec_validation():
    with pytest.raises(InputError):
        CameraSpec(4, 4)
    with pytest.raises(InputError):
        CameraSpec(hfov_deg=200)
