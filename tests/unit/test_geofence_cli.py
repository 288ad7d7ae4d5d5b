"""``drone-agent check`` (summary, verdict, exit 0/2/3) and ``drone-agent zones frz|prison``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from drone_agent.cli import main
from drone_agent.geofence import load_zone_file

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "drone_agent" / "configs"
KENT = CONFIGS / "kent-example.toml"
HOME = "51.2705,0.5227"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def copy_kent(tmp_path: Path) -> Path:
    for path in CONFIGS.iterdir():
        if path.suffix in (".toml", ".geojson"):
            shutil.copy(path, tmp_path / path.name)
    return tmp_path / KENT.name


def test_check_kent_example_is_permitted(capsys) -> None:
    code, out, err = run(capsys, "check", "--config", str(KENT))
    assert code == 0 and err == ""
    assert "EXAMPLE - NOT FOR OPERATIONAL USE" in out
    assert "vlos_max_m" in out and "kent-example.toml [limits]" in out and "2019/947" in out
    assert "Nearest no-fly boundary from home: 'EXAMPLE substation (no-fly)'" in out
    assert "inclusion_polygon" in out and "FENCE_ALT_MAX=120" in out
    assert out.rstrip().splitlines()[-1] == "VERDICT: flight permitted"


def test_kent_example_geometry_for_the_demo(capsys) -> None:
    """The demo flies a leg 100 m north of home at 30-50 m: it must pass over a privacy zone, stay
    inside the area, and the north boundary must lie 150-200 m north of home."""
    from datetime import UTC, datetime

    from drone_agent.geofence import KinematicState, compile_fence, load_operation

    fence = compile_fence(load_operation(KENT), now_utc=datetime.now(UTC))
    over = {name for n in range(0, 101, 5) for name in fence.privacy_zones_at(KinematicState(0.0, n, 40.0))}
    assert "EXAMPLE private garden (privacy)" in over
    assert all(fence.check(KinematicState(0.0, n, 40.0)).inside for n in range(0, 101, 5))
    north = fence.area_local.intersection(fence.area_local.envelope.boundary).bounds[3]
    assert 150.0 <= north <= 200.0
    assert fence.distance_to_nearest_no_fly_m()[1] < 500.0


def test_check_zones_and_home(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", "--zones", str(CONFIGS / "kent-example-zones.geojson"), "--home", HOME)
    assert code == 0 and "ad-hoc check" in out and "CAA" in out


def test_home_outside_area_exits_3(capsys) -> None:
    code, out, _ = run(capsys, "check", "--zones", str(CONFIGS / "kent-example-zones.geojson"),
                       "--home", "51.2760,0.5227")
    assert code == 3
    assert "VERDICT: NOT PERMITTED" in out and "home is outside the operation area" in out


def test_home_in_no_fly_zone_exits_3(capsys) -> None:
    # inside the example substation (150..230 m east, 70..150 m south of the demo home)
    code, out, _ = run(capsys, "check", "--config", str(KENT), "--home", "51.26951,0.52540")
    assert code == 3 and "inside no-fly zone 'EXAMPLE substation (no-fly)'" in out


def test_ceiling_without_authority_exits_3(capsys, tmp_path: Path) -> None:
    profile = copy_kent(tmp_path)
    profile.write_text(profile.read_text().replace("vlos_max_m = 400.0", "max_height_agl_m = 150.0"))
    code, _, err = run(capsys, "check", "--config", str(profile))
    assert code == 3 and err.startswith("not permitted: ") and "authorised_limits" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check", "--zones", "missing.geojson", "--home", HOME], "zone file not found"),
        (["check", "--zones", str(KENT), "--home", HOME], "not JSON"),
        (["check", "--zones", str(CONFIGS / "kent-example-zones.geojson")], "--zones needs --home"),
        (["check", "--zones", str(CONFIGS / "kent-example-zones.geojson"), "--home", "51.27"], "is not LAT,LON"),
        (["check", "--config", str(KENT), "--at", "tomorrow"], "is not a date-time"),
        (["check", "--config", str(KENT), "--pilot", HOME], "--pilot only applies with --zones"),
        (["check"], "one of the arguments --config --zones is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, expected: str) -> None:
    try:
        code, out, err = run(capsys, *argv)
    except SystemExit as exc:  # argparse usage errors
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err
    assert err.startswith("input: ") and err.count("\n") == 1


def test_bad_zone_file_names_feature(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "no_fly", "name": "Park"},
         "geometry": {"type": "Point", "coordinates": [0.5227, 51.2705]}}]}))
    code, _, err = run(capsys, "check", "--zones", str(bad), "--home", HOME)
    assert code == 2 and f"{bad} features[0] 'Park': Point without radius_m" in err


def test_pilot_far_from_home_exits_3(capsys) -> None:
    code, out, _ = run(capsys, "check", "--zones", str(CONFIGS / "kent-example-zones.geojson"), "--home", HOME,
                       "--pilot", "51.2705,0.5327")
    assert code == 3 and "beyond the VLOS limit" in out


def test_zones_prison_and_frz_write_loadable_geojson(capsys, tmp_path: Path) -> None:
    prison = tmp_path / "prison.geojson"
    code, _, err = run(capsys, "zones", "prison", "--name", "HMP Test", "--centre", "51.279,0.522", "-o", str(prison))
    assert code == 0 and "wrote 1 zone(s)" in err
    (zone,) = load_zone_file(prison)
    assert zone.radius_m == 400.0 and zone.kind == "no_fly"
    code, _, err = run(capsys, "zones", "prison", "--name", "HMP Test", "--centre", "51.279,0.522", "-o", str(prison))
    assert code == 2 and "already exists" in err
    frz = tmp_path / "frz.geojson"
    code, _, _ = run(capsys, "zones", "frz", "--name", "Aero", "--runway", "51.3478,0.5012:51.3559,0.5069",
                     "--runway", "51.350,0.495:51.352,0.510", "--rpz-width-m", "1500", "-o", str(frz))
    assert code == 0 and len(load_zone_file(frz)) == 5
    code, out, _ = run(capsys, "zones", "prison", "--name", "P", "--centre", "51.279,0.522", "-o", "-")
    assert code == 0 and json.loads(out)["features"][0]["properties"]["radius_m"] == 400.0
    code, _, err = run(capsys, "zones", "frz", "--name", "Aero", "--runway", "51.3478,0.5012", "-o", "-")
    assert code == 2 and "is not LAT,LON:LAT,LON" in err


def test_check_with_elevation_file_derives_fence_alt_max(capsys, tmp_path: Path) -> None:
    profile = copy_kent(tmp_path)
    # 0.001 deg cells over the example area: 30 m at home, falling to 18 m in the south-west corner
    rows = []
    for r in range(10):  # north to south
        lat = 51.2755 - 0.001 * r
        rows.append(" ".join(f"{30.0 - max(0.0, (51.2705 - lat) * 1000 * 2) - max(0.0, (0.5227 - lon) * 1000):.1f}"
                             for lon in [0.5155 + 0.001 * c for c in range(16)]))
    (tmp_path / "dem.asc").write_text("ncols 16\nnrows 10\nxllcenter 0.5155\nyllcenter 51.2665\ncellsize 0.001\n"
                                      + "\n".join(rows) + "\n")
    profile.write_text(profile.read_text().replace("declared_flat = true", 'elevation_file = "dem.asc"'))
    code, out, _ = run(capsys, "check", "--config", str(profile))
    assert code == 0 and "Terrain: local elevation file" in out
    # ceiling 120 m less the ~11 m by which the lowest ground (near the south-west corner) is below home
    assert "lowest ground under the area is 11.0 m below home" in out and "FENCE_ALT_MAX=108.9 " in out
    assert out.rstrip().splitlines()[-1] == "VERDICT: flight permitted"


def test_permission_window_at_check_time(capsys, tmp_path: Path) -> None:
    zones = json.loads((CONFIGS / "kent-example-zones.geojson").read_text())
    zones["features"][1]["properties"]["permission"] = {
        "granted_by": "EXAMPLE site operator", "reference": "PERM-9",
        "valid_from": "2026-11-24T09:00:00Z", "valid_until": "2026-11-24T11:00:00Z"}
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(zones))
    code, out, _ = run(capsys, "check", "--zones", str(path), "--home", HOME, "--at", "2026-11-24T10:00:00Z")
    assert code == 0 and "enterable until 2026-11-24T11:00:00+00:00 (permission PERM-9" in out
    assert "exclusion_polygon  EXAMPLE substation" not in out  # enterable: not uploaded
    code, out, _ = run(capsys, "check", "--zones", str(path), "--home", HOME, "--at", "2026-11-24T12:00:00Z")
    assert code == 0 and "permission PERM-9 for 'EXAMPLE substation (no-fly)' is not valid now" in out
    assert "exclusion_polygon  EXAMPLE substation" in out
    # home inside the zone: permitted only inside the window
    inside = "51.26951,0.52540"
    assert run(capsys, "check", "--zones", str(path), "--home", inside, "--at", "2026-11-24T10:00:00Z")[0] == 0
    assert run(capsys, "check", "--zones", str(path), "--home", inside, "--at", "2026-11-24T12:00:00Z")[0] == 3
