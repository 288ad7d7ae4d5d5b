"""GeoJSON zone loading: valid zones load; every malformed input is one InputError line naming the
file, features[i] and the zone name, what is wrong and how to fix it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from drone_agent.errors import InputError
from drone_agent.geofence import GeoPoint, load_zone_file, operation_from_zone_files
from drone_agent.geofence.zones import zone_to_feature, zones_from_geojson

HOME = GeoPoint(51.2705, 0.5227)
SQUARE = [[0.52, 51.27], [0.525, 51.27], [0.525, 51.272], [0.52, 51.272], [0.52, 51.27]]


def feature(kind="no_fly", name="Zone A", geometry=None, **props):
    geometry = {"type": "Polygon", "coordinates": [SQUARE]} if geometry is None else geometry
    return {"type": "Feature", "properties": {"kind": kind, "name": name, **props}, "geometry": geometry}


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def write(tmp_path: Path, document, name="zones.geojson") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def error_for(tmp_path: Path, document) -> str:
    path = write(tmp_path, document)
    with pytest.raises(InputError) as exc:
        load_zone_file(path)
    line = exc.value.one_line()
    assert "\n" not in line and str(path) in line and exc.value.hint
    return line


def test_loads_polygon_multipolygon_circle_band_and_permission(tmp_path: Path) -> None:
    hole = [[0.521, 51.2705], [0.522, 51.2705], [0.522, 51.2712], [0.521, 51.2705]]
    permission = {"granted_by": "Rochester ATC", "reference": "ATC-42",
                  "valid_from": "2026-11-24T09:00:00Z", "valid_until": "2026-11-24T12:00:00+00:00"}
    path = write(tmp_path, collection(
        feature("operation_area", "Area", {"type": "Polygon", "coordinates": [SQUARE, hole]}),
        feature("no_fly", "Two parts", {"type": "MultiPolygon", "coordinates": [
            [SQUARE], [[[0.53, 51.27], [0.531, 51.27], [0.531, 51.271], [0.53, 51.27]]]]}),
        feature("no_fly", "Prison", {"type": "Point", "coordinates": [0.5227, 51.2795]}, radius_m=400,
                permission=permission),
        feature("privacy", "Garden", floor_m=0, ceiling_m=60.5),
    ))
    area, two, prison, garden = load_zone_file(path)
    assert area.kind == "operation_area" and len(area.geometry.interiors) == 1
    assert two.geometry.geom_type == "MultiPolygon" and len(two.geometry.geoms) == 2
    assert prison.is_circle and prison.radius_m == 400.0 and prison.permission.reference == "ATC-42"
    assert prison.permission.valid_until_utc.hour == 12 and prison.permission.granted_by == "Rochester ATC"
    assert garden.ceiling_m == 60.5 and garden.is_banded and not area.is_banded
    assert garden.label == f"{path} features[3] 'Garden'"


def test_single_feature_document_and_round_trip() -> None:
    (zone,) = zones_from_geojson(feature("privacy", "School", ceiling_m=50.0), "mem")
    (again,) = zones_from_geojson(json.loads(json.dumps(zone_to_feature(zone))), "mem")
    assert again.geometry.equals(zone.geometry) and again.ceiling_m == 50.0 and again.kind == "privacy"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "not JSON (line 1"),
        ([1, 2], "top level is 'list', not a FeatureCollection"),
        ({"type": "Polygon", "coordinates": []}, "top level is 'Polygon'"),
        ({"type": "FeatureCollection", "features": {}}, "'features' is not a list"),
        (collection({"type": "Polygon"}), "features[0]: not a GeoJSON Feature"),
        (collection({"type": "Feature", "geometry": None}), "features[0]: missing properties"),
        (collection(feature(name="")), "features[0]: missing name"),
        (collection(feature(kind=None)), "features[0] 'Zone A': missing kind"),
        (collection(feature(kind="nofly")), "unknown kind 'nofly'"),
        (collection({"type": "Feature", "properties": {"kind": "no_fly", "name": "Zone A"}}), "missing geometry"),
        (collection(feature(geometry={"type": "LineString", "coordinates": [[0, 51], [1, 51]]})),
         "unsupported geometry type 'LineString'"),
        (collection(feature(geometry={"type": "Polygon", "coordinates": [SQUARE[:-1]]})), "is not closed"),
        (collection(feature(geometry={"type": "Polygon", "coordinates": [[SQUARE[0], SQUARE[1], SQUARE[0]]]})),
         "has 3 positions, fewer than 4"),
        (collection(feature(geometry={"type": "Polygon", "coordinates": [
            [[0.52, 51.27], [0.525, 51.272], [0.525, 51.27], [0.52, 51.272], [0.52, 51.27]]]})),
         "polygon is invalid (Self-intersection"),
        (collection(feature(geometry={"type": "Polygon", "coordinates": [
            [[0.52, 51.27], [190.0, 51.27], [0.525, 51.272], [0.52, 51.27]]]})), "is out of range"),
        (collection(feature(geometry={"type": "Polygon", "coordinates": [
            [[0.52, 51.27], ["0.525", 51.27], [0.525, 51.272], [0.52, 51.27]]]})), "non-number (NaN or string)"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"kind": "no_fly", '
         '"name": "Zone A"}, "geometry": {"type": "Point", "coordinates": [NaN, 51.2]}}]}', "non-number (NaN"),
        (collection(feature(geometry={"type": "Point", "coordinates": [0.52, 51.27]})), "Point without radius_m"),
        (collection(feature(geometry={"type": "Point", "coordinates": [0.52, 51.27]}, radius_m=0)),
         "radius_m 0 is not a positive number"),
        (collection(feature(geometry={"type": "Point", "coordinates": [0.52, 51.27]}, radius_m=-5)),
         "radius_m -5 is not a positive number"),
        (collection(feature(radius_m=10)), "radius_m given for a Polygon"),
        (collection(feature(floor_m=60, ceiling_m=60)), "floor_m 60.0 is not below ceiling_m 60.0"),
        (collection(feature(floor_m=-1)), "floor_m -1.0 is below ground"),
        (collection(feature(ceiling_m="high")), "ceiling_m 'high' is not a number"),
        (collection(feature("privacy", permission={})), "permission on a privacy zone"),
        (collection(feature(permission={"granted_by": "ATC", "reference": "R1", "valid_from": "2026-11-24T09:00"})),
         "has no time zone"),
        (collection(feature(permission={"granted_by": "ATC", "reference": "R1", "valid_from": "2026-11-24T10:00Z",
                                         "valid_until": "2026-11-24T09:00Z"})), "permission ends before it starts"),
        (collection(feature(permission={"reference": "R1"})), "permission.granted_by is missing"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, document, expected: str) -> None:
    assert expected in error_for(tmp_path, document)


def test_error_names_feature_index_and_name(tmp_path: Path) -> None:
    line = error_for(tmp_path, collection(feature("operation_area", "Area"), feature(name="School", radius_m=3)))
    assert "features[1] 'School'" in line and line.startswith("input: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="zone file not found"):
        load_zone_file(tmp_path / "nope.geojson")


def test_no_operation_area(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no operation_area zone") as exc:
        operation_from_zone_files([write(tmp_path, collection(feature()))], HOME)
    assert "kind = operation_area" in exc.value.hint


def test_swapped_coordinates_are_diagnosed(tmp_path: Path) -> None:
    swapped = [[lat, lon] for lon, lat in SQUARE]
    path = write(tmp_path, collection(feature("operation_area", "Area"),
                                      feature(name="Swapped", geometry={"type": "Polygon", "coordinates": [swapped]})))
    with pytest.raises(InputError) as exc:
        operation_from_zone_files([path], HOME)
    line = exc.value.one_line()
    assert "features[1] 'Swapped'" in line and "km from home" in line
    assert "look swapped" in line and "[longitude, latitude]" in line


def test_far_zone_without_swap(tmp_path: Path) -> None:
    far = [[lon - 2.0, lat] for lon, lat in SQUARE]  # ~140 km west
    path = write(tmp_path, collection(feature("operation_area", "Area"),
                                      feature(name="Far", geometry={"type": "Polygon", "coordinates": [far]})))
    with pytest.raises(InputError, match="more than 50 km") as exc:
        operation_from_zone_files([path], HOME)
    assert "look swapped" not in exc.value.one_line()


def test_nan_home_is_rejected() -> None:
    with pytest.raises(InputError, match="not a number"):
        GeoPoint(math.nan, 0.5)
    with pytest.raises(InputError, match="latitude 91.0 is outside") as exc:
        GeoPoint.parse("91.0,0.5227")
    assert "latitude comes first" in exc.value.hint
