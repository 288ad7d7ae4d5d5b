"""The flight controller's fence: items within the point budget, conservative simplification
(exclusions only grow, inclusions only shrink -- property-tested after rounding to the wire
format), and FENCE_*/AVOID_* parameters with FENCE_ALT_MAX from the ceiling and the terrain."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from drone_agent.geofence import (
    GeoPoint,
    GroundProfile,
    LocalFrame,
    Operation,
    Zone,
    compile_fence,
    resolve_limits,
)
from drone_agent.geofence.controller import item_geometry_local, simplify_conservatively

HOME = GeoPoint(51.2705, 0.5227, 30.0)
FRAME = LocalFrame(HOME)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def zone_from_local(kind: str, name: str, polygon: Polygon, **kw) -> Zone:
    lonlat = FRAME.geometry_to_lonlat(polygon)
    return Zone(name=name, kind=kind, geometry=lonlat, **kw)


def star(cx: float, cy: float, radii: list[float], phase: float = 0.0) -> Polygon:
    n = len(radii)
    return Polygon([(cx + r * math.cos(phase + 2 * math.pi * k / n), cy + r * math.sin(phase + 2 * math.pi * k / n))
                    for k, r in enumerate(radii)])


def compile_(*zones: Zone, pilot=None, limits=None):
    op = Operation(name="t", zones=zones, limits=limits or resolve_limits(None, None), pilot=pilot)
    return compile_fence(op, HOME, now_utc=NOW)


radii = st.lists(st.floats(20.0, 200.0), min_size=3, max_size=150)


@settings(max_examples=150, deadline=None)
@given(radii=radii, tolerance=st.sampled_from([0.05, 0.5, 2.0, 8.0, 32.0, 128.0]),
       cx=st.floats(-2000, 2000), cy=st.floats(-2000, 2000), phase=st.floats(0, 6.3))
def test_exclusion_only_grows_inclusion_only_shrinks(radii, tolerance, cx, cy, phase) -> None:
    legal = star(cx, cy, radii, phase)
    grown = simplify_conservatively(legal, tolerance, True, FRAME)
    assert grown is not None
    points, local = grown
    assert len(points) >= 3 and local.is_valid and local.covers(legal)
    # the wire points themselves (rounded to 1e-7 deg) are what the controller stores
    assert all(round(lat * 1e7) == lat * 1e7 or abs(round(lat * 1e7) - lat * 1e7) < 1e-6 for lat, _ in points)
    shrunk = simplify_conservatively(legal, tolerance, False, FRAME)
    if shrunk is not None:
        points, local = shrunk
        assert len(points) >= 3 and local.is_valid and legal.covers(local)


def test_simplification_reduces_vertices() -> None:
    legal = star(0, 0, [100 + 10 * math.sin(k / 5) for k in range(200)])
    points, local = simplify_conservatively(legal, 4.0, True, FRAME)
    assert len(points) < 30 and local.covers(legal) and local.area < legal.area * 1.2
    square = Polygon([(0, 0), (50, 0), (50, 50), (0, 50)])
    for grow in (True, False):
        points, local = simplify_conservatively(square, 0.05, grow, FRAME)
        assert len(points) == 4 and abs(local.area - 2500.0) < 12.0


@settings(max_examples=25, deadline=None)
@given(area_radii=st.lists(st.floats(250.0, 400.0), min_size=3, max_size=120),
       zone_radii=st.lists(st.lists(st.floats(10.0, 40.0), min_size=3, max_size=80), min_size=1, max_size=4))
def test_plan_fits_budget_and_is_conservative(area_radii, zone_radii) -> None:
    area = star(0, 0, area_radii)
    zones = [zone_from_local("operation_area", "Area", area)]
    for k, r in enumerate(zone_radii):
        zones.append(zone_from_local("no_fly", f"NF{k}", star(-150 + 100 * k, 120, r)))
    fence = compile_(*zones)
    plan = fence.controller_plan()
    assert plan.points_used <= 70 and plan.complete
    assert plan.points_used == sum(i.points for i in plan.items)
    inclusions = [item_geometry_local(i, fence.frame) for i in plan.items if i.kind.startswith("inclusion")]
    exclusions = [item_geometry_local(i, fence.frame) for i in plan.items if i.kind.startswith("exclusion")]
    assert len(inclusions) == 1 and fence.area_local.covers(inclusions[0])
    for z in fence.no_fly:
        legal_inside_area = z.legal.intersection(fence.area_local)
        if legal_inside_area.is_empty:
            assert z.zone.name not in {i.source_zone for i in plan.items}
            continue
        assert any(e.covers(legal_inside_area) for e in exclusions), z.zone.name


def test_plan_items_and_params_for_circles_and_bands() -> None:
    area = Polygon([(-300, -300), (300, -300), (300, 200), (-300, 200)])
    lat, lon = FRAME.to_geo(0, -250)
    prison = Zone(name="Prison", kind="no_fly", geometry=Point(lon, lat), radius_m=100.0)
    far_lat, far_lon = FRAME.to_geo(0, 5000)
    far = Zone(name="Far", kind="no_fly", geometry=Point(far_lon, far_lat), radius_m=400.0)
    crane = zone_from_local("no_fly", "Crane", Polygon([(-200, -100), (-100, -100), (-100, 0), (-200, 0)]),
                            ceiling_m=60.0)
    over_home = zone_from_local("no_fly", "Deck", Polygon([(-20, -20), (20, -20), (20, 20), (-20, 20)]), floor_m=40.0)
    sky = zone_from_local("no_fly", "Sky", Polygon([(50, 50), (80, 50), (80, 80)]), floor_m=150.0)
    fence = compile_(zone_from_local("operation_area", "Area", area), prison, far, crane, over_home, sky)
    plan = fence.controller_plan()
    kinds = [(i.kind, i.source_zone) for i in plan.items]
    assert kinds[0] == ("inclusion_polygon", "Area")
    assert ("exclusion_circle", "Prison") in kinds and ("exclusion_polygon", "Crane") in kinds
    assert all(name not in ("Far", "Deck", "Sky") for _, name in kinds)
    assert not plan.complete  # Deck is agent-only
    assert any("Deck" in n and "agent only" in n for n in plan.notes)
    assert any("Crane" in n and "full-height column" in n for n in plan.notes)
    circle = next(i for i in plan.items if i.source_zone == "Prison")
    assert circle.radius_m > 100.0 and circle.points == 2
    centre = FRAME.to_local(*circle.points_deg[0])
    assert math.hypot(centre[0], centre[1] + 250) < 0.02
    p = plan.params
    assert p["FENCE_ENABLE"] == 1 and p["FENCE_TYPE"] == 7 and p["FENCE_ACTION"] == 4
    assert p["FENCE_ALT_MAX"] == 120.0 and p["FENCE_RADIUS"] == 500.0 and p["FENCE_MARGIN"] == 5.0
    assert p["AVOID_ENABLE"] == 3 and p["AVOID_MARGIN"] >= p["FENCE_MARGIN"] and p["FENCE_OPTIONS"] == 0


def test_alt_max_from_ceiling_and_terrain() -> None:
    area = zone_from_local("operation_area", "Area", Polygon([(-300, -300), (300, -300), (300, 200), (-300, 200)]))
    fence = compile_(area)
    valley = GroundProfile(home_amsl_m=80.0, min_amsl_m=52.5, max_amsl_m=120.0, source="dem")
    assert fence.controller_plan(valley).params["FENCE_ALT_MAX"] == 92.5
    assert fence.controller_plan(GroundProfile(30.0, 30.0, 45.0, "dem")).params["FENCE_ALT_MAX"] == 120.0
    gorge = GroundProfile(200.0, 50.0, 200.0, "dem")
    plan = fence.controller_plan(gorge)
    assert plan.params["FENCE_ALT_MAX"] == 10.0 and any("below ArduPilot's 10 m minimum" in n for n in plan.notes)
    authorised = compile_(area, limits=resolve_limits(None, {"authority_ref": "OA-1", "max_height_agl_m": 150.0}))
    assert authorised.controller_plan(None).params["FENCE_ALT_MAX"] == 150.0
    assert any("ground under the area unknown" in n for n in authorised.controller_plan(None).notes)


def test_separate_area_parts_and_pilot_away_from_home() -> None:
    west = zone_from_local("operation_area", "West", Polygon([(-300, -100), (10, -100), (10, 100), (-300, 100)]))
    east = zone_from_local("operation_area", "East", Polygon([(50, -100), (300, -100), (300, 100), (50, 100)]))
    lat, lon = FRAME.to_geo(-50, 0)
    fence = compile_(west, east, pilot=GeoPoint(lat, lon))
    plan = fence.controller_plan()
    assert [i.kind for i in plan.items] == ["inclusion_polygon", "inclusion_polygon"]
    assert plan.params["FENCE_OPTIONS"] == 2 and plan.params["FENCE_TYPE"] == 5 and "FENCE_RADIUS" not in plan.params
    assert any("pilot is not at home" in n for n in plan.notes)


def test_area_hole_becomes_exclusion_and_circle_area_stays_circle() -> None:
    holed = Polygon([(-300, -300), (300, -300), (300, 200), (-300, 200)], [[(50, 50), (90, 50), (90, 90), (50, 90)]])
    fence = compile_(zone_from_local("operation_area", "Holed", holed))
    plan = fence.controller_plan()
    assert [i.kind for i in plan.items] == ["inclusion_polygon", "exclusion_polygon"]
    inclusion, exclusion = (item_geometry_local(i, fence.frame) for i in plan.items)
    assert Polygon(holed.exterior).covers(inclusion) and inclusion.area > 0.99 * Polygon(holed.exterior).area
    assert exclusion.covers(Polygon(holed.interiors[0])) and exclusion.area < 1700.0
    lat, lon = FRAME.to_geo(10, 10)
    disc = Zone(name="Disc", kind="operation_area", geometry=Point(lon, lat), radius_m=250.0)
    (item,) = compile_(disc).controller_plan().items
    assert item.kind == "inclusion_circle" and 249.9 < item.radius_m < 250.0


def test_too_many_zones_are_reported_not_dropped_silently() -> None:
    area = zone_from_local("operation_area", "Area", Polygon([(-400, -400), (400, -400), (400, 400), (-400, 400)]))
    circles = []
    for k in range(40):
        lat, lon = FRAME.to_geo(-350 + 18 * k, 300)
        circles.append(Zone(name=f"C{k}", kind="no_fly", geometry=Point(lon, lat), radius_m=5.0))
    plan = compile_(area, *circles).controller_plan()
    assert plan.points_used <= 70 and not plan.complete
    assert sum("does not fit" in n for n in plan.notes) == 40 - (70 - 4) // 2
    # the items kept are the exclusions nearest home
    kept = {i.source_zone for i in plan.items if i.kind == "exclusion_circle"}
    assert "C19" in kept and "C0" not in kept


def test_wire_points_are_rounded() -> None:
    area = zone_from_local("operation_area", "Area", star(0, 0, [300.0 + 7 * (k % 3) for k in range(9)]))
    for item in compile_(area).controller_plan().items:
        for lat, lon in item.points_deg:
            assert lat * 1e7 == pytest.approx(round(lat * 1e7), abs=1e-6)
            assert lon * 1e7 == pytest.approx(round(lon * 1e7), abs=1e-6)


def test_sliver_of_area_too_thin_to_upload_is_reported() -> None:
    main = zone_from_local("operation_area", "Main", Polygon([(-100, -100), (100, -100), (100, 100), (-100, 100)]))
    sliver = zone_from_local("operation_area", "Sliver", Polygon([(200, 0), (260, 0), (260, 0.004), (200, 0.004)]))
    plan = compile_(main, sliver).controller_plan()
    assert [i.source_zone for i in plan.items] == ["Main, Sliver"] and not plan.complete
    assert any("too thin to upload safely" in n for n in plan.notes)
