"""Operation profile (TOML): limits with provenance, authorised limits, terrain policy, the raw
sections of other packages, and every bad-profile error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drone_agent.errors import InputError, NotPermitted
from drone_agent.geofence import (
    ElevationGrid,
    GeoPoint,
    Limits,
    TerrainPolicy,
    ground_profile,
    load_operation,
    resolve_limits,
    select_terrain_source,
)
from drone_agent.geofence.limits import DEFAULTS
from shapely.geometry import box

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "drone_agent" / "configs"
AREA = [[0.518, 51.268], [0.527, 51.268], [0.527, 51.273], [0.518, 51.273], [0.518, 51.268]]
ZONES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"kind": "operation_area", "name": "Area"},
     "geometry": {"type": "Polygon", "coordinates": [AREA]}}]}


def profile(tmp_path: Path, body: str) -> Path:
    (tmp_path / "zones.geojson").write_text(json.dumps(ZONES))
    path = tmp_path / "op.toml"
    path.write_text('[operation]\nname = "Test op"\nzone_files = ["zones.geojson"]\n' + body)
    return path


def test_kent_example_loads_and_is_labelled() -> None:
    op = load_operation(CONFIGS / "kent-example.toml")
    assert "EXAMPLE" in op.name and "NOT FOR OPERATIONAL USE" in op.name
    assert op.home == GeoPoint(51.2705, 0.5227, 30.0) and op.pilot is None
    assert {z.kind for z in op.zones} == {"operation_area", "no_fly", "privacy"}
    assert all("EXAMPLE" in z.name for z in op.zones)
    assert op.limits.vlos_max_m == 400.0 and op.limits.overrides[0].key == "vlos_max_m"
    assert op.terrain.declared_flat and len(op.config_sha256) == 64
    for path in CONFIGS.glob("*.geojson"):
        assert json.loads(path.read_text())["description"].startswith("EXAMPLE - NOT FOR OPERATIONAL USE")


def test_defaults_are_caa_and_recorded() -> None:
    limits = resolve_limits(None, None)
    assert limits.max_height_agl_m == 120.0 and limits.vlos_max_m == 500.0 and limits.overrides == ()
    assert "2019/947" in limits.sources["max_height_agl_m"] and limits.soft_ceiling_agl_m == 115.0
    assert limits == Limits()


def test_overrides_are_logged_with_source(tmp_path: Path) -> None:
    op = load_operation(profile(tmp_path, "[limits]\nmax_height_agl_m = 90\nhorizontal_margin_m = 8.5\n"))
    record = op.as_record()["limits"]
    assert record["values"]["max_height_agl_m"] == 90.0 and record["values"]["horizontal_margin_m"] == 8.5
    assert {o["key"] for o in record["overrides"]} == {"max_height_agl_m", "horizontal_margin_m"}
    assert all(o["source"].endswith("op.toml [limits]") for o in record["overrides"])
    assert record["overrides"][0]["default"] == 120.0


def test_raising_legal_limit_without_authority_is_not_permitted(tmp_path: Path) -> None:
    with pytest.raises(NotPermitted, match="max_height_agl_m = 150 is above the CAA default 120") as exc:
        load_operation(profile(tmp_path, "[limits]\nmax_height_agl_m = 150\n"))
    assert "[authorised_limits]" in exc.value.hint and exc.value.exit_code == 3
    with pytest.raises(NotPermitted, match="names no authority_ref"):
        load_operation(profile(tmp_path, "[authorised_limits]\nmax_height_agl_m = 150\n"))
    with pytest.raises(NotPermitted, match="names no authority_ref"):
        load_operation(profile(tmp_path, '[authorised_limits]\nauthority_ref = "  "\nvlos_max_m = 1000\n'))


def test_authorised_limits_take_effect_with_reference(tmp_path: Path) -> None:
    op = load_operation(profile(tmp_path, '[authorised_limits]\nauthority_ref = "CAA OA 1234"\n'
                                          'max_height_agl_m = 150\nvlos_max_m = 1000\n'))
    assert op.limits.max_height_agl_m == 150.0 and op.limits.vlos_max_m == 1000.0
    assert op.limits.authority_ref == "CAA OA 1234"
    assert "authority CAA OA 1234" in op.limits.sources["max_height_agl_m"]
    assert [o.key for o in op.limits.overrides] == ["max_height_agl_m", "vlos_max_m"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[limits]\nceiling = 100\n", "unknown key(s) ceiling"),
        ("[limits]\nmax_height_agl_m = 'high'\n", "is not a number"),
        ("[limits]\nbraking_decel_mps2 = 0\n", "outside 0.1..20"),
        ("[limits]\nhorizontal_margin_m = 60\nvlos_max_m = 100\n", "leaves no room"),
        ('[authorised_limits]\nauthority_ref = "X"\nmax_height_agl_m = 5000\n', "outside 10..1000"),
        ('[authorised_limits]\nauthority = "X"\n', "unknown key(s) authority"),
        ("[weather]\nwind = 3\n", "unknown top-level key(s) weather"),
        ("limits = 3\n", "[operation]: unknown key(s) limits"),
        ("[terrain]\ndeclared_flat = 'yes'\n", "declared_flat is not true/false"),
        ("[terrain]\ndem = 'x.asc'\n", "unknown key(s) dem"),
        ("home = { lat_deg = 51.27 }\n", "needs lat_deg and lon_deg"),
        ("pilot = { lat_deg = 95.0, lon_deg = 0.5 }\n", "pilot: latitude 95.0 is outside"),
        ("colour = 'red'\n", "[operation]: unknown key(s) colour"),
    ],
)
def test_bad_profiles(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        load_operation(profile(tmp_path, body))
    assert expected in exc.value.one_line() and "op.toml" in exc.value.one_line()


def test_unreadable_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[operation\nname = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_operation(bad)
    with pytest.raises(InputError, match="profile not found"):
        load_operation(tmp_path / "none.toml")
    missing = tmp_path / "m.toml"
    missing.write_text('[operation]\nname = "x"\nzone_files = ["gone.geojson"]\n')
    with pytest.raises(InputError, match="gone.geojson: zone file not found"):
        load_operation(missing)
    for body, expected in (("[operation]\nzone_files = ['a']\n", "name missing"),
                           ("[operation]\nname = 'x'\n", "zone_files missing"), ("", "no [operation] table")):
        bad.write_text(body)
        with pytest.raises(InputError, match=expected.replace("[", r"\[")):
            load_operation(bad)


def test_top_level_value_that_is_not_a_table(tmp_path: Path) -> None:
    path = profile(tmp_path, "")
    path.write_text("limits = 3\n" + path.read_text())
    with pytest.raises(InputError, match="limits must be a table"):
        load_operation(path)


def test_other_sections_are_kept_raw(tmp_path: Path) -> None:
    op = load_operation(profile(tmp_path, "[guard]\nwarn_s = 3\n[camera]\nsource = 'sim'\n"))
    assert op.sections == {"guard": {"warn_s": 3}, "camera": {"source": "sim"}}


def test_terrain_source_policy() -> None:
    flat = TerrainPolicy(declared_flat=True, note="playing field")
    rough = TerrainPolicy()
    fc = select_terrain_source(rough, flight_controller_terrain=True, elevation_file_loaded=True)
    assert fc.source == "flight_controller" and fc.acceptable
    dem = select_terrain_source(rough, flight_controller_terrain=False, elevation_file_loaded=True)
    assert dem.source == "elevation_file" and dem.acceptable
    ok = select_terrain_source(flat, flight_controller_terrain=False, elevation_file_loaded=False)
    assert ok.source == "flat_at_home" and ok.acceptable and "playing field" in ok.reason
    refused = select_terrain_source(rough, flight_controller_terrain=False, elevation_file_loaded=False)
    assert refused.source == "flat_at_home" and not refused.acceptable and "not declared flat" in refused.reason


def write_grid(path: Path) -> Path:
    # 4 x 3 cells of 0.001 deg, lower-left corner 0.52 E 51.27 N; heights rise to the east.
    rows = ["10 20 30 40", "10 20 30 40", "5 15 25 35"]
    path.write_text("ncols 4\nnrows 3\nxllcorner 0.52\nyllcorner 51.27\ncellsize 0.001\nNODATA_value -9999\n"
                    + "\n".join(rows) + "\n")
    return path


def test_elevation_grid_and_ground_profile(tmp_path: Path) -> None:
    grid = ElevationGrid.load(write_grid(tmp_path / "dem.asc"))
    assert grid.elevation_amsl_m(51.2705, 0.5205) == pytest.approx(5.0)  # south-west cell centre
    assert grid.elevation_amsl_m(51.2705, 0.5210) == pytest.approx(10.0)  # half-way to the next centre
    assert grid.elevation_amsl_m(51.30, 0.52) is None
    area = box(0.5205, 51.2705, 0.5225, 51.2715)
    ground = ground_profile(grid, TerrainPolicy(), GeoPoint(51.2715, 0.5225), area)
    assert ground.home_amsl_m == pytest.approx(30.0) and ground.min_amsl_m == 5.0 and ground.max_amsl_m == 40.0
    flat = ground_profile(None, TerrainPolicy(declared_flat=True), GeoPoint(51.27, 0.52, 30.0), area)
    assert (flat.home_amsl_m, flat.min_amsl_m) == (30.0, 30.0)
    assert ground_profile(None, TerrainPolicy(), GeoPoint(51.27, 0.52, 30.0), area) is None


def test_bad_elevation_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.asc"
    bad.write_text("ncols 2\nnrows 2\nxllcorner 0\nyllcorner 51\ncellsize 0.1\n1 2\n3\n")
    with pytest.raises(InputError, match="expected 2 x 2 values"):
        ElevationGrid.load(bad)
    with pytest.raises(InputError, match="elevation file not found"):
        ElevationGrid.load(tmp_path / "none.asc")


def test_stopping_defaults_cover_measured_arducopter_brake() -> None:
    # Real ArduCopter SITL (fixtures README): BRAKE from 9.96 m/s stopped 19.4 m further on.
    limits = Limits()
    v = 9.96
    model_m = v * limits.reaction_latency_s + v * v / (2 * limits.braking_decel_mps2)
    assert model_m >= 19.4
    assert DEFAULTS["braking_decel_mps2"][0] <= 19.4 and v * v / (2 * 19.4) >= limits.braking_decel_mps2
