"""The compiled fence: local frame, margins, violations, 3-D bands, VLOS, ceiling, permissions,
refusals, and time to breach with the stopping model (example-based and property-based)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, Polygon

from drone_agent.errors import InputError, NotPermitted
from drone_agent.geofence import (
    GeoPoint,
    KinematicState,
    LocalFrame,
    Operation,
    Permission,
    Zone,
    compile_fence,
    resolve_limits,
)

HOME = GeoPoint(51.2705, 0.5227, 30.0)
FRAME = LocalFrame(HOME)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HM = 5.0  # default horizontal margin
VM = 5.0


def rect(kind: str, name: str, west: float, south: float, east: float, north: float, **kw) -> Zone:
    corners = [(west, south), (east, south), (east, north), (west, north)]
    lonlat = [(lon, lat) for lat, lon in (FRAME.to_geo(e, n) for e, n in corners)]
    return Zone(name=name, kind=kind, geometry=Polygon(lonlat), **kw)


def circle(kind: str, name: str, east: float, north: float, radius_m: float, **kw) -> Zone:
    lat, lon = FRAME.to_geo(east, north)
    return Zone(name=name, kind=kind, geometry=Point(lon, lat), radius_m=radius_m, **kw)


AREA = rect("operation_area", "Area", -300, -300, 300, 200)
SUBSTATION = rect("no_fly", "Substation", 100, 50, 200, 150)
CRANE = rect("no_fly", "Crane", -200, -100, -100, 0, ceiling_m=60.0)
BRIDGE = rect("no_fly", "Bridge deck", -200, 50, -100, 100, floor_m=40.0, ceiling_m=60.0)
PRISON = circle("no_fly", "Prison", 0, -200, 50.0)
GARDEN = rect("privacy", "Garden", -30, 55, 35, 95)


def operation(*zones: Zone, limits=None, pilot=None) -> Operation:
    return Operation(name="t", zones=zones, limits=limits or resolve_limits(None, None), pilot=pilot)


@pytest.fixture(scope="module")
def fence():
    return compile_fence(operation(AREA, SUBSTATION, CRANE, BRIDGE, PRISON, GARDEN), HOME, now_utc=NOW)


def test_local_frame_accuracy_within_10km() -> None:
    geod = Geod(ellps="WGS84")
    for az in (0.0, 37.0, 90.0, 200.0):
        lon, lat, _ = geod.fwd(HOME.lon_deg, HOME.lat_deg, az, 10_000.0)
        east, north = FRAME.to_local(lat, lon)
        assert math.hypot(east, north) == pytest.approx(10_000.0, abs=0.01)
        assert FRAME.to_geo(east, north) == pytest.approx((lat, lon), abs=1e-11)
    # two points 10 km out, 1 km apart: planar distance equals the geodesic to better than 1 cm
    lon1, lat1, _ = geod.fwd(HOME.lon_deg, HOME.lat_deg, 45.0, 10_000.0)
    lon2, lat2, _ = geod.fwd(lon1, lat1, 135.0, 1_000.0)
    (e1, n1), (e2, n2) = FRAME.to_local(lat1, lon1), FRAME.to_local(lat2, lon2)
    assert math.hypot(e2 - e1, n2 - n1) == pytest.approx(1_000.0, abs=0.01)


def test_hover_at_home(fence) -> None:
    c = fence.check(KinematicState(0.0, 0.0, 30.0))
    assert c.inside and not c.in_margin and c.violations == () and not c.must_stop
    assert c.time_to_breach_s is None and c.stopping_distance_m == 0.0
    # nearest: the crane's east edge, 100 m from home, less the margin
    assert c.nearest_zone == "Crane" and c.nearest_kind == "no_fly"
    assert c.horizontal_margin_m == pytest.approx(100.0 - HM)
    assert c.vertical_margin_m == pytest.approx(120.0 - VM - 30.0)
    assert c.nearest_vertical == "height ceiling"


def test_margin_and_violation_of_operation_area(fence) -> None:
    near = fence.check(KinematicState(0.0, 197.0, 30.0))
    assert near.inside and near.in_margin and near.must_stop and near.violations == ()
    assert near.horizontal_margin_m == pytest.approx(-2.0) and near.nearest_zone == "Area"
    assert near.time_to_breach_s == 0.0 and near.breach_kind == "operation_area"
    out = fence.check(KinematicState(0.0, 210.0, 30.0))
    assert not out.inside and out.violations == ("outside the operation area Area",)
    assert out.horizontal_margin_m == pytest.approx(-15.0)


def test_inside_no_fly_zone(fence) -> None:
    c = fence.check(KinematicState(150.0, 100.0, 30.0))
    assert not c.inside and c.violations == ("inside no-fly zone 'Substation'",)
    assert c.nearest_zone == "Substation" and c.horizontal_margin_m == pytest.approx(-55.0)
    edge = fence.check(KinematicState(97.0, 100.0, 30.0))  # in the margin, outside the zone
    assert edge.inside and edge.in_margin and edge.horizontal_margin_m == pytest.approx(-2.0)


def test_time_to_breach_and_stopping_model(fence) -> None:
    # 10 m/s north from (0, 0): area effective boundary at 195 m -> 19.5 s
    c = fence.check(KinematicState(0.0, 0.0, 30.0, 0.0, 10.0, 0.0))
    assert c.time_to_breach_s == pytest.approx(19.5) and c.breach_kind == "operation_area"
    assert c.stopping_distance_m == pytest.approx(10.0 * 1.0 + 100.0 / 5.0)
    assert c.stopping_time_s == pytest.approx(1.0 + 10.0 / 2.5) and not c.must_stop
    # the stop point reaches the margin once the remaining distance <= 30 m
    assert not fence.check(KinematicState(0.0, 164.0, 30.0, 0.0, 10.0, 0.0)).must_stop
    late = fence.check(KinematicState(0.0, 166.0, 30.0, 0.0, 10.0, 0.0))
    assert late.must_stop and late.time_to_breach_s == pytest.approx(2.9)
    # east toward the substation at 5 m/s from (0, 100): its grown edge is at x = 95
    east = fence.check(KinematicState(0.0, 100.0, 30.0, 5.0, 0.0, 0.0))
    assert east.breach_zone == "Substation" and east.time_to_breach_s == pytest.approx(19.0)
    # flying away from everything: nothing within the horizon
    assert fence.check(KinematicState(0.0, 0.0, 30.0, 0.0, -0.1, 0.0)).time_to_breach_s is None


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_state_fails_closed(fence, bad) -> None:
    c = fence.check(KinematicState(0.0, bad, 30.0))
    assert not c.inside and c.must_stop and c.in_margin and c.time_to_breach_s == 0.0
    assert c.violations[0].startswith("state not finite")
    assert fence.check(KinematicState(0.0, 0.0, 30.0, 0.0, 0.0, bad)).must_stop


def test_ceiling(fence) -> None:
    climb = fence.check(KinematicState(0.0, 0.0, 100.0, 0.0, 0.0, 3.0))
    assert climb.time_to_breach_s == pytest.approx(5.0) and climb.breach_kind == "ceiling"
    high = fence.check(KinematicState(0.0, 0.0, 121.0))
    assert not high.inside and "height 121.0 m above the 120 m ceiling" in high.violations
    assert high.vertical_margin_m == pytest.approx(-6.0) and high.breach_kind == "vertical"


def test_altitude_bands_are_three_dimensional(fence) -> None:
    over = fence.check(KinematicState(-150.0, -50.0, 70.0))
    assert over.inside and not over.in_margin
    assert over.vertical_margin_m == pytest.approx(70.0 - 65.0) and over.nearest_vertical == "Crane"
    assert fence.check(KinematicState(-150.0, -50.0, 70.0, 0.0, 0.0, -1.0)).time_to_breach_s == pytest.approx(5.0)
    low = fence.check(KinematicState(-150.0, -50.0, 50.0))
    assert not low.inside and low.violations == ("inside no-fly zone 'Crane'",)
    # under the bridge deck (40..60 m) is lawful, climbing into it is not
    under = fence.check(KinematicState(-150.0, 75.0, 20.0, 0.0, 0.0, 2.0))
    assert under.inside and under.time_to_breach_s == pytest.approx((35.0 - 20.0) / 2.0)
    assert under.breach_zone == "Bridge deck" and under.vertical_margin_m == pytest.approx(15.0)
    # flying west at 80 m passes over both banded zones without a breach
    west = fence.check(KinematicState(0.0, 75.0, 80.0, -5.0, 0.0, 0.0))
    assert west.time_to_breach_s is None or west.breach_kind != "no_fly"
    # ... but at 50 m it enters the bridge deck's grown edge at x = -95
    level = fence.check(KinematicState(0.0, 75.0, 50.0, -5.0, 0.0, 0.0))
    assert level.breach_zone == "Bridge deck" and level.time_to_breach_s == pytest.approx(19.0)
    # descending diagonally onto the crane: enters when both the column and the band are entered
    dive = fence.check(KinematicState(-90.0, -50.0, 80.0, -1.0, 0.0, -1.0))
    assert dive.breach_zone == "Crane" and dive.time_to_breach_s == pytest.approx(15.0)


def test_circle_entry_time(fence) -> None:
    # south toward the prison (centre (0, -200), r 50 + 5): surface at y = -145 (covering 64-gon)
    c = fence.check(KinematicState(0.0, -100.0, 30.0, 0.0, -5.0, 0.0))
    assert c.breach_zone == "Prison" and c.time_to_breach_s == pytest.approx(45.0 / 5.0, abs=0.02)


def test_privacy(fence) -> None:
    assert fence.privacy_zones_at(KinematicState(0.0, 75.0, 40.0)) == ("Garden",)
    assert fence.privacy_zones_at(KinematicState(0.0, 0.0, 40.0)) == ()
    ((name, polygon, floor, ceiling),) = fence.privacy_zones_local()
    assert name == "Garden" and floor == 0.0 and ceiling == math.inf
    assert polygon.bounds == pytest.approx((-30.0, 55.0, 35.0, 95.0), abs=1e-6)
    assert {n for n, *_ in fence.no_fly_zones_local()} == {"Substation", "Crane", "Bridge deck", "Prison"}


def test_vlos_from_pilot() -> None:
    limits = resolve_limits({"vlos_max_m": 250.0}, None)
    lat, lon = FRAME.to_geo(-100.0, 0.0)
    fence = compile_fence(operation(AREA, limits=limits, pilot=GeoPoint(lat, lon)), HOME, now_utc=NOW)
    c = fence.check(KinematicState(100.0, 0.0, 30.0, 10.0, 0.0, 0.0))
    assert c.distance_from_pilot_m == pytest.approx(200.0)
    assert c.time_to_breach_s == pytest.approx(4.5) and c.breach_kind == "vlos"
    far = fence.check(KinematicState(160.0, 0.0, 30.0))
    assert "260 m from the pilot, beyond VLOS 250 m" in far.violations and far.nearest_kind == "vlos"


def test_permission_window_makes_zone_enterable() -> None:
    permission = Permission("Rochester ATC", "ATC-7", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    zone = rect("no_fly", "FRZ", 100, 50, 200, 150, permission=permission)
    during = compile_fence(operation(AREA, zone), HOME, now_utc=NOW)
    assert during.check(KinematicState(150.0, 100.0, 30.0)).inside
    assert during.enterable == (zone,) and during.permission_expires_utc == NOW + timedelta(hours=1)
    assert any("ATC-7" in note and "enterable until" in note for note in during.notes)
    assert not during.expired(NOW) and during.expired(NOW + timedelta(hours=1))
    after = compile_fence(operation(AREA, zone), HOME, now_utc=NOW + timedelta(hours=2))
    assert not after.check(KinematicState(150.0, 100.0, 30.0)).inside and after.enterable == ()
    assert any("not valid now" in note for note in after.notes)


def test_refusals() -> None:
    outside = compile_fence(operation(rect("operation_area", "Far area", 500, 500, 800, 800)), HOME,
                            now_utc=NOW, strict=False)
    assert outside.refusals == ["home is outside the operation area Far area"] and not outside.permitted
    with pytest.raises(NotPermitted, match="home is inside no-fly zone 'Home NF' without valid permission"):
        compile_fence(operation(AREA, rect("no_fly", "Home NF", -10, -10, 10, 10)), HOME, now_utc=NOW)
    # a banded zone above home does not stop take-off
    assert compile_fence(operation(AREA, rect("no_fly", "High", -10, -10, 10, 10, floor_m=50.0)), HOME,
                         now_utc=NOW).permitted
    lat, lon = FRAME.to_geo(0.0, 600.0)
    with pytest.raises(NotPermitted, match="from the pilot, beyond the VLOS limit"):
        compile_fence(operation(AREA, pilot=GeoPoint(lat, lon)), HOME, now_utc=NOW)
    tiny = compile_fence(operation(rect("operation_area", "Tiny", -4, -4, 4, 4)), HOME, now_utc=NOW, strict=False)
    assert any("too small" in r for r in tiny.refusals)
    with pytest.raises(InputError, match="no home position"):
        compile_fence(operation(AREA), None, now_utc=NOW)
    with pytest.raises(InputError, match="no time zone"):
        compile_fence(operation(AREA), HOME, now_utc=datetime(2026, 1, 1))


# ---- properties ------------------------------------------------------------------------------

coordinate = st.floats(-250.0, 150.0)
speed = st.floats(-15.0, 15.0)


@settings(max_examples=300, deadline=None)
@given(east=coordinate, north=coordinate, alt=st.floats(0.0, 110.0), ve=speed, vn=speed, vu=st.floats(-4.0, 4.0))
def test_time_to_breach_is_the_first_contact_with_a_margin(fence, east, north, alt, ve, vn, vu) -> None:
    assert_first_contact(fence, KinematicState(east, north, alt, ve, vn, vu))


def assert_first_contact(fence, state: KinematicState) -> None:
    """Never inside a margin before ``time_to_breach_s``; exactly on an effective boundary at it;
    ``must_stop`` exactly when the stop point reaches it."""
    ve, vn, vu = state.vel_east_mps, state.vel_north_mps, state.vel_up_mps
    c = fence.check(state)
    if c.in_margin:
        assert c.time_to_breach_s == 0.0 and c.must_stop
        return
    horizon = fence.limits.breach_horizon_s
    end = c.time_to_breach_s if c.time_to_breach_s is not None else horizon
    for k in range(40):  # never inside a margin before the predicted time
        assert not fence.check(state.advanced(end * k / 40)).in_margin
    if c.time_to_breach_s is not None:
        at = fence.check(state.advanced(c.time_to_breach_s))
        assert min(at.horizontal_margin_m, at.vertical_margin_m) == pytest.approx(0.0, abs=1e-6)
        speed_mps = math.sqrt(ve * ve + vn * vn + vu * vu)
        assert c.must_stop == (c.time_to_breach_s * speed_mps <= c.stopping_distance_m + 1e-9)


@settings(max_examples=200, deadline=None)
@given(east=coordinate, north=coordinate, alt=st.floats(0.0, 130.0))
def test_inside_matches_legal_geometry(fence, east, north, alt) -> None:
    c = fence.check(KinematicState(east, north, alt))
    point = Point(east, north)
    unlawful = (
        not AREA_LOCAL.covers(point)
        or alt > 120.0
        or any(geom.contains(point) and floor <= alt <= ceiling for _, geom, floor, ceiling in fence.no_fly_zones_local())
    )
    if abs(AREA_LOCAL.exterior.distance(point)) > 1e-6:
        assert c.inside == (not unlawful)
    if c.inside and not c.in_margin:
        assert c.horizontal_margin_m >= 0 and c.vertical_margin_m >= 0


AREA_LOCAL = Polygon([(-300, -300), (300, -300), (300, 200), (-300, 200)])


def _scattered_fence():
    import random

    rng = random.Random(7)
    zones = [rect("operation_area", "Big", -3000, -3000, 3000, 3000)]
    for k in range(300):  # small zones from 150 m to 20 km away: every nearest-search path is used
        r = rng.choice([150.0, 500.0, 2000.0, 8000.0, 20000.0]) * rng.uniform(1.0, 1.3)
        a = rng.uniform(0, 2 * math.pi)
        x, y = r * math.cos(a), r * math.sin(a)
        zones.append(rect("no_fly", f"Z{k}", x - 20, y - 20, x + 20, y + 20) if k % 2
                     else circle("no_fly", f"Z{k}", x, y, 25.0))
    limits = resolve_limits(None, {"authority_ref": "test", "vlos_max_m": 10_000.0})
    return compile_fence(operation(*zones, limits=limits), HOME, now_utc=NOW)


SCATTERED = _scattered_fence()


@settings(max_examples=300, deadline=None)
@given(east=st.floats(-3100.0, 3100.0), north=st.floats(-3100.0, 3100.0))
def test_horizontal_margin_matches_brute_force(east, north) -> None:
    fence = SCATTERED
    point = Point(east, north)
    area = fence.area_effective
    area_margin = area.exterior.distance(point) * (1 if area.contains(point) else -1)
    vlos = fence.limits.vlos_max_m - fence.limits.horizontal_margin_m - math.hypot(east, north)
    zone_margins = [
        -z.effective.exterior.distance(point) if z.effective.contains(point) else z.effective.distance(point)
        for z in fence.no_fly
    ]
    expected = min(area_margin, vlos, *zone_margins)
    c = fence.check(KinematicState(east, north, 30.0))
    assert c.horizontal_margin_m == pytest.approx(expected, abs=1e-6)


L_AREA = Zone(name="L", kind="operation_area", geometry=Polygon(
    [(lon, lat) for lat, lon in (FRAME.to_geo(e, n) for e, n in
                                 [(-300, -300), (300, -300), (300, 50), (50, 50), (50, 200), (-300, 200)])]))
L_FENCE = compile_fence(operation(L_AREA, CRANE, PRISON), HOME, now_utc=NOW)


def test_non_convex_area_uses_exact_geometry() -> None:
    assert not L_FENCE._area_halfplanes and SCATTERED._area_halfplanes  # both code paths are exercised
    c = L_FENCE.check(KinematicState(100.0, -50.0, 30.0, 0.0, 10.0, 0.0))  # north, under the notch
    assert c.time_to_breach_s == pytest.approx(9.5) and c.breach_kind == "operation_area"
    assert c.horizontal_margin_m == pytest.approx(95.0) and c.nearest_zone == "L"
    assert L_FENCE.check(KinematicState(100.0, 100.0, 30.0)).violations == ("outside the operation area L",)


@settings(max_examples=200, deadline=None)
@given(east=coordinate, north=coordinate, alt=st.floats(0.0, 110.0), ve=speed, vn=speed, vu=st.floats(-4.0, 4.0))
def test_time_to_breach_property_on_non_convex_area(east, north, alt, ve, vn, vu) -> None:
    assert_first_contact(L_FENCE, KinematicState(east, north, alt, ve, vn, vu))
