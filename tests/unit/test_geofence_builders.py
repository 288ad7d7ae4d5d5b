"""Rule-defined zones: aerodrome FRZ (ATZ 2 / 2.5 nm by runway length, 5 km x 1 km runway
protection zones from each threshold) and the 400 m prison zone; their GeoJSON loads back."""

from __future__ import annotations

import json
import math

import pytest
from shapely.geometry import Point

from drone_agent.errors import InputError
from drone_agent.geofence import GeoPoint, LocalFrame, aerodrome_frz, prison_zone
from drone_agent.geofence.builders import zones_feature_collection
from drone_agent.geofence.zones import zones_from_geojson

ARP = GeoPoint(51.35, 0.50)
FRAME = LocalFrame(ARP)


def runway(length_m: float, heading_deg: float = 20.0) -> tuple[GeoPoint, GeoPoint]:
    dx, dy = math.sin(math.radians(heading_deg)) * length_m / 2, math.cos(math.radians(heading_deg)) * length_m / 2
    return GeoPoint(*FRAME.to_geo(-dx, -dy)), GeoPoint(*FRAME.to_geo(dx, dy))


def local(zone):
    return FRAME.geometry_to_local(zone.geometry)


@pytest.mark.parametrize(("length_m", "radius_m"), [(1200.0, 3704.0), (1850.0, 3704.0), (1900.0, 4630.0)])
def test_atz_radius_depends_on_longest_runway(length_m: float, radius_m: float) -> None:
    atz, *rpzs = aerodrome_frz("Test", [runway(length_m)])
    assert atz.radius_m == radius_m and atz.kind == "no_fly" and atz.is_circle
    centre = FRAME.to_local(atz.geometry.y, atz.geometry.x)
    assert math.hypot(*centre) < 0.01  # mid-point of the runway
    assert len(rpzs) == 2


def test_published_length_overrides_threshold_distance() -> None:
    atz, *_ = aerodrome_frz("Test", [runway(1700.0)], longest_runway_m=1999.0)
    assert atz.radius_m == 4630.0
    centre = GeoPoint(51.36, 0.51)
    atz, *_ = aerodrome_frz("Test", [runway(1000.0)], centre=centre)
    assert (atz.geometry.y, atz.geometry.x) == (51.36, 0.51)


def test_runway_protection_zones_are_5km_by_1km_outward_from_each_threshold() -> None:
    a, b = runway(1200.0, heading_deg=90.0)  # east-west runway, thresholds at x = -600 and +600
    _, west, east = aerodrome_frz("Test", [(a, b)])
    for zone, sign in ((west, -1), (east, 1)):
        poly = local(zone)
        minx, miny, maxx, maxy = poly.bounds
        assert poly.area == pytest.approx(5000.0 * 1000.0, rel=1e-4)
        assert (maxy, miny) == (pytest.approx(500.0, abs=0.1), pytest.approx(-500.0, abs=0.1))
        near, far = (maxx, minx) if sign < 0 else (minx, maxx)
        assert near == pytest.approx(600.0 * sign, abs=0.1) and far == pytest.approx(5600.0 * sign, abs=0.1)
        assert not poly.contains(Point(0, 0))
    assert west.name == "Test RPZ 270deg" and east.name == "Test RPZ 090deg"
    heathrow = aerodrome_frz("H", [(a, b)], rpz_width_m=1500.0)[1]
    assert local(heathrow).area == pytest.approx(5000.0 * 1500.0, rel=1e-4)


def test_two_runways_and_round_trip_through_loader() -> None:
    zones = aerodrome_frz("Two", [runway(1000.0, 20.0), runway(2000.0, 120.0)])
    assert len(zones) == 5 and zones[0].radius_m == 4630.0
    document = json.loads(json.dumps(zones_feature_collection(zones, "test")))
    loaded = zones_from_geojson(document, "frz.geojson")
    assert [z.name for z in loaded] == [z.name for z in zones]
    assert all(a.geometry.equals_exact(b.geometry, 1e-12) for a, b in zip(loaded, zones, strict=True))


def test_prison_zone() -> None:
    zone = prison_zone("HMP Test", GeoPoint(51.279, 0.522))
    assert zone.radius_m == 400.0 and zone.kind == "no_fly" and zone.ceiling_m is None
    (loaded,) = zones_from_geojson(json.loads(json.dumps(zones_feature_collection([zone], "t"))), "p.geojson")
    assert loaded.radius_m == 400.0 and loaded.name == "HMP Test"


def test_builder_input_errors() -> None:
    with pytest.raises(InputError, match="no runway"):
        aerodrome_frz("X", [])
    with pytest.raises(InputError, match="only 0 m apart"):
        aerodrome_frz("X", [(ARP, ARP)])
    with pytest.raises(InputError, match="must be positive"):
        aerodrome_frz("X", [runway(1000.0)], rpz_width_m=0)
    with pytest.raises(InputError, match="radius must be positive"):
        prison_zone("X", ARP, 0)
