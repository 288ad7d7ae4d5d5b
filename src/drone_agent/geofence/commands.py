"""CLI: ``drone-agent check`` (is this operation lawful?) and ``drone-agent zones frz|prison``.

``check`` exit codes: 0 flight permitted; 2 invalid input; 3 input valid but the flight is not
permitted (reasons printed after the summary).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from drone_agent.errors import InputError
from drone_agent.geofence.builders import aerodrome_frz, prison_zone, zones_feature_collection
from drone_agent.geofence.fence import Fence, compile_fence
from drone_agent.geofence.geo import GeoPoint
from drone_agent.geofence.operation import load_operation, operation_from_zone_files
from drone_agent.geofence.terrain import ElevationGrid, ground_profile, select_terrain_source


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    check = sub.add_parser(
        "check",
        help="check an operation profile or zone files: limits, zones, controller fence, verdict",
        description="Exit 0: flight permitted; 2: invalid input; 3: input valid but flight not permitted.",
    )
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="OP.toml", help="operation profile")
    source.add_argument("--zones", type=Path, action="append", metavar="FILE.geojson",
                        help="zone file (repeatable); CAA default limits")
    check.add_argument("--home", metavar="LAT,LON[,ALT]", help="home/launch position (overrides the profile's)")
    check.add_argument("--pilot", metavar="LAT,LON", help="pilot position with --zones (default: at home)")
    check.add_argument("--at", metavar="UTC", help="check permissions at this ISO-8601 UTC time (default: now)")
    check.set_defaults(func=run_check)

    zones = sub.add_parser("zones", help="build rule-defined no-fly zones as GeoJSON")
    kinds = zones.add_subparsers(dest="zone_kind", metavar="KIND", required=True)
    frz = kinds.add_parser("frz", help="aerodrome flight restriction zone: ATZ + runway protection zones")
    frz.add_argument("--name", required=True, help="aerodrome name")
    frz.add_argument("--runway", action="append", required=True, metavar="LAT,LON:LAT,LON",
                     help="the two thresholds of a runway (repeat per runway)")
    frz.add_argument("--centre", metavar="LAT,LON", help="ATZ centre (default: mid-point of the longest runway)")
    frz.add_argument("--longest-runway-m", type=float, metavar="M", help="published length of the longest runway")
    frz.add_argument("--rpz-width-m", type=float, default=1000.0, metavar="M", help="RPZ width (1000; Heathrow 1500)")
    _output_args(frz)
    frz.set_defaults(func=run_frz)
    prison = kinds.add_parser("prison", help="prison / YOI restricted zone (400 m circle)")
    prison.add_argument("--name", required=True, help="establishment name")
    prison.add_argument("--centre", required=True, metavar="LAT,LON", help="centre of the establishment")
    prison.add_argument("--radius-m", type=float, default=400.0, metavar="M", help="radius (400 m by SI 2023/1101)")
    _output_args(prison)
    prison.set_defaults(func=run_prison)


def _output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", required=True, metavar="FILE.geojson", help="output file, '-' for stdout")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _now(args: argparse.Namespace) -> datetime:
    if not args.at:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--at {args.at!r} is not a date-time", "write e.g. 2026-11-24T09:00:00Z") from None
    if at.tzinfo is None:
        raise InputError(f"--at {args.at!r} has no time zone", "append Z for UTC")
    return at


def run_check(args: argparse.Namespace) -> int:
    home = GeoPoint.parse(args.home, "--home") if args.home else None
    if args.config:
        if args.pilot:
            raise InputError("--pilot only applies with --zones", "set [operation] pilot in the profile")
        operation = load_operation(args.config)
    else:
        if home is None:
            raise InputError("--zones needs --home LAT,LON", "give the launch position, e.g. --home 51.2705,0.5227")
        operation = operation_from_zone_files(args.zones, home)
        if args.pilot:
            operation = replace(operation, pilot=GeoPoint.parse(args.pilot, "--pilot"))
    fence = compile_fence(operation, home, now_utc=_now(args), strict=False)
    print(summary(fence))
    return 0 if fence.permitted else 3


def summary(fence: Fence) -> str:
    """The human summary ``check`` prints, ending with the verdict line."""
    op, limits, home = fence.operation, fence.limits, fence.home
    out: list[str] = []
    incident = f" (incident {op.incident_ref})" if op.incident_ref else ""
    out.append(f"Operation: {op.name}{incident}")
    out.append(f"  source: {op.source}" + (f"  sha256 {op.config_sha256[:16]}..." if op.config_sha256 else ""))
    alt = f", {home.alt_amsl_m:g} m AMSL" if home.alt_amsl_m is not None else ""
    out.append(f"Home: {home.lat_deg:.6f}, {home.lon_deg:.6f}{alt}")
    if op.pilot is None:
        out.append("Pilot: at home")
    else:
        out.append(f"Pilot: {op.pilot.lat_deg:.6f}, {op.pilot.lon_deg:.6f} ({abs(complex(*fence.pilot_local)):.0f} m from home)")
    out.append("Limits in force (value, where it came from):")
    for key, value in limits.as_record()["values"].items():
        out.append(f"  {key:<22} {value:>8g}   {limits.sources[key]}")
    if limits.authority_ref:
        out.append(f"  authority reference: {limits.authority_ref}")
    out.append(f"Zones loaded: {len(op.zones)} from {len(op.zone_files)} file(s)")
    for kind in ("operation_area", "no_fly", "privacy"):
        for zone in op.zones_of(kind):
            shape = f"circle r={zone.radius_m:g} m" if zone.is_circle else zone.geometry.geom_type
            band = ""
            if zone.is_banded:
                band = f", {zone.floor_m or 0:g}..{zone.ceiling_m if zone.ceiling_m is not None else 'inf'} m AGL"
            out.append(f"  {kind:<15} {zone.name} ({shape}{band})  [{zone.source_file} features[{zone.feature_index}]]")
    bounds = fence.area_local.bounds
    out.append(
        f"Operation area: {fence.area_local.area / 1e6:.3f} km^2, "
        f"{bounds[2] - bounds[0]:.0f} m E-W x {bounds[3] - bounds[1]:.0f} m N-S"
    )
    nearest = fence.distance_to_nearest_no_fly_m()
    if nearest is None:
        out.append("Nearest no-fly boundary from home: none active")
    else:
        out.append(f"Nearest no-fly boundary from home: '{nearest[0]}' {nearest[1]:.0f} m")
    terrain, ground = _terrain(fence)
    out.append(f"Terrain: {terrain.reason}")
    plan = fence.controller_plan(ground)
    out.append(f"Flight controller fence: {len(plan.items)} item(s), {plan.points_used}/{plan.max_points} points"
               f" (simplification tolerance {plan.tolerance_m:g} m)")
    for item in plan.items:
        size = f"r={item.radius_m:g} m" if item.radius_m is not None else f"{len(item.points_deg)} vertices"
        out.append(f"  {item.kind:<18} {item.source_zone} ({size})")
    out.append("  params: " + " ".join(f"{k}={v:g}" for k, v in plan.params.items()))
    for note in (*fence.notes, *plan.notes):
        out.append(f"Note: {note}")
    conditions = []
    if not terrain.acceptable:
        conditions.append("the flight controller reports valid terrain (TERRAIN_REPORT) before arming")
    if not plan.complete:
        conditions.append("the agent enforces the zones the flight controller cannot hold (see notes)")
    if fence.refusals:
        out.append("VERDICT: NOT PERMITTED")
        out.extend(f"  - {reason}" for reason in fence.refusals)
    elif conditions:
        out.append("VERDICT: flight permitted, on condition that " + "; ".join(conditions))
    else:
        out.append("VERDICT: flight permitted")
    return "\n".join(out)


def _terrain(fence: Fence):
    policy = fence.operation.terrain
    grid = ElevationGrid.load(policy.elevation_file) if policy.elevation_file else None
    decision = select_terrain_source(policy, flight_controller_terrain=False, elevation_file_loaded=grid is not None)
    return decision, ground_profile(grid, policy, fence.home, fence.area_lonlat())


def _write(collection: dict, args: argparse.Namespace) -> int:
    text = json.dumps(collection, indent=1) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise InputError(f"{out} already exists", "choose another --out or add --force")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out} ({exc})", "check the directory exists and is writable") from None
    print(f"wrote {len(collection['features'])} zone(s) to {out}", file=sys.stderr)
    return 0


def _runway(text: str) -> tuple[GeoPoint, GeoPoint]:
    if text.count(":") != 1:
        raise InputError(f"--runway {text!r} is not LAT,LON:LAT,LON", "give both thresholds, e.g. 51.35,0.50:51.36,0.51")
    a, b = text.split(":")
    return GeoPoint.parse(a, "--runway threshold"), GeoPoint.parse(b, "--runway threshold")


def run_frz(args: argparse.Namespace) -> int:
    zones = aerodrome_frz(
        args.name,
        [_runway(r) for r in args.runway],
        centre=GeoPoint.parse(args.centre, "--centre") if args.centre else None,
        longest_runway_m=args.longest_runway_m,
        rpz_width_m=args.rpz_width_m,
    )
    note = (f"FRZ for {args.name} built by drone-agent from runway thresholds (ATZ + runway protection zones). "
            "Cross-check against the CAA-published FRZ before use.")
    return _write(zones_feature_collection(zones, note), args)


def run_prison(args: argparse.Namespace) -> int:
    zone = prison_zone(args.name, GeoPoint.parse(args.centre, "--centre"), args.radius_m)
    note = f"Prison restricted zone for {args.name} (SI 2023/1101), built by drone-agent. Check the published EGRU shape."
    return _write(zones_feature_collection([zone], note), args)
