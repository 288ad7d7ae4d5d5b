"""The operation profile (TOML) and the zone set it names.

Profile layout (all paths relative to the profile file)::

    [operation]
    name = "..."                       # required
    incident_ref = "..."               # optional
    zone_files = ["zones.geojson"]     # required, at least one
    home = { lat_deg = .., lon_deg = .., alt_amsl_m = .. }   # optional planned home/launch
    pilot = "home"                     # or { lat_deg = .., lon_deg = .. }; default "home"
    [limits]             # see limits.py       [authorised_limits]  # see limits.py
    [terrain]            # elevation_file = "...", declared_flat = false, note = "..."
    [link] [guard] [camera] [trigger] [evidence] [store]   # other packages, kept raw in sections

Unknown top-level tables or unknown keys in the geofence tables are input errors.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError
from drone_agent.geofence.geo import GeoPoint, haversine_m
from drone_agent.geofence.limits import Limits, resolve_limits
from drone_agent.geofence.terrain import TerrainPolicy
from drone_agent.geofence.zones import LONLAT_HINT, Zone, load_zone_file

GEOFENCE_TABLES = ("operation", "limits", "authorised_limits", "terrain")
OTHER_TABLES = ("link", "guard", "camera", "trigger", "evidence", "store")
OPERATION_KEYS = ("name", "incident_ref", "zone_files", "home", "pilot")
TERRAIN_KEYS = ("elevation_file", "declared_flat", "note")
#: A zone whose centre is further than this from home is almost certainly a coordinate mistake.
MAX_ZONE_DISTANCE_M = 50_000.0


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    zones: tuple[Zone, ...]
    limits: Limits = field(default_factory=Limits)
    terrain: TerrainPolicy = field(default_factory=TerrainPolicy)
    incident_ref: str | None = None
    home: GeoPoint | None = None
    pilot: GeoPoint | None = None  # None: the pilot stands at home
    zone_files: tuple[Path, ...] = ()
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "command line"
    config_sha256: str | None = None

    def zones_of(self, kind: str) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if z.kind == kind)

    def as_record(self) -> dict[str, Any]:
        """What the audit log's ``config`` event records about the operation."""
        return {
            "name": self.name,
            "incident_ref": self.incident_ref,
            "source": self.source,
            "config_sha256": self.config_sha256,
            "zone_files": [str(p) for p in self.zone_files],
            "zones": [{"name": z.name, "kind": z.kind, "source": z.label} for z in self.zones],
            "permissions": [
                {"zone": z.name, **z.permission.as_record()} for z in self.zones if z.permission is not None
            ],
            "limits": self.limits.as_record(),
            "terrain": {
                "elevation_file": str(self.terrain.elevation_file) if self.terrain.elevation_file else None,
                "declared_flat": self.terrain.declared_flat,
                "note": self.terrain.note,
            },
        }


def load_operation(path: Path) -> Operation:
    """Load an operation profile; InputError (exit 2) on any bad input, NotPermitted (exit 3) for
    limits raised without authority."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: profile not found", "check the --config path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read profile ({exc})", "check the file permissions") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})", "fix the syntax at the position shown") from None
    unknown = set(doc) - set(GEOFENCE_TABLES) - set(OTHER_TABLES)
    if unknown:
        raise InputError(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}",
            f"allowed tables: {', '.join(GEOFENCE_TABLES + OTHER_TABLES)}",
        )
    for table in GEOFENCE_TABLES + OTHER_TABLES:
        if table in doc and not isinstance(doc[table], dict):
            raise InputError(f"{path}: {table} must be a table", f"write it as [{table}]")
    op_table = doc.get("operation")
    if op_table is None:
        raise InputError(f"{path}: no [operation] table", "add [operation] with name and zone_files")
    _no_unknown(op_table, OPERATION_KEYS, f"{path} [operation]")
    name = op_table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{path} [operation]: name missing", 'add name = "..." (shown in records)')
    incident_ref = op_table.get("incident_ref")
    if incident_ref is not None and not isinstance(incident_ref, str):
        raise InputError(f"{path} [operation]: incident_ref is not a string", 'write incident_ref = "..."')
    files = op_table.get("zone_files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise InputError(f"{path} [operation]: zone_files missing", 'add zone_files = ["zones.geojson", ...]')
    zone_files = tuple(path.parent / f for f in files)
    home = _point(op_table["home"], f"{path} [operation] home") if "home" in op_table else None
    pilot_value = op_table.get("pilot", "home")
    pilot = None if pilot_value == "home" else _point(pilot_value, f"{path} [operation] pilot")
    limits = resolve_limits(doc.get("limits"), doc.get("authorised_limits"), str(path))
    terrain = _terrain(doc.get("terrain", {}), path)
    zones = _load_zones(zone_files)
    check_zones_plausible(zones, home or pilot)
    return Operation(
        name=name.strip(),
        zones=zones,
        limits=limits,
        terrain=terrain,
        incident_ref=incident_ref,
        home=home,
        pilot=pilot,
        zone_files=zone_files,
        sections={t: dict(doc[t]) for t in OTHER_TABLES if t in doc},
        source=str(path),
        config_sha256=hashlib.sha256(raw).hexdigest(),
    )


def operation_from_zone_files(
    paths: Sequence[Path], home: GeoPoint | None = None, name: str = "ad-hoc check"
) -> Operation:
    """An operation with default (CAA) limits from zone files alone (``check --zones``)."""
    if not paths:
        raise InputError("no zone files given", "pass --zones FILE.geojson (repeatable)")
    zones = _load_zones(tuple(Path(p) for p in paths))
    check_zones_plausible(zones, home)
    return Operation(name=name, zones=zones, home=home, zone_files=tuple(Path(p) for p in paths))


def check_zones_plausible(zones: Sequence[Zone], reference: GeoPoint | None) -> None:
    """Refuse zones implausibly far from home (usually [lat, lon] written instead of [lon, lat])."""
    if reference is None:
        areas = [z for z in zones if z.kind == "operation_area"]
        if not areas:
            return
        centre = areas[0].geometry.representative_point()
        reference = GeoPoint(centre.y, centre.x)
    for zone in zones:
        point = zone.geometry.representative_point()
        distance_m = haversine_m(reference, GeoPoint(point.y, point.x))
        if distance_m <= MAX_ZONE_DISTANCE_M:
            continue
        hint = f"{LONLAT_HINT}; check this zone's coordinates"
        if -90 <= point.x <= 90 and haversine_m(reference, GeoPoint(point.x, point.y)) <= MAX_ZONE_DISTANCE_M:
            hint = f"the coordinates look swapped: {LONLAT_HINT}, so write [{point.y:.5f}, {point.x:.5f}]"
        raise InputError(
            f"{zone.label}: zone is {distance_m / 1000:.0f} km from home "
            f"({reference.lat_deg:.5f}, {reference.lon_deg:.5f}), more than {MAX_ZONE_DISTANCE_M / 1000:.0f} km",
            hint,
        )


def _load_zones(paths: Sequence[Path]) -> tuple[Zone, ...]:
    zones = tuple(z for p in paths for z in load_zone_file(p))
    if not any(z.kind == "operation_area" for z in zones):
        raise InputError(
            f"{', '.join(str(p) for p in paths)}: no operation_area zone",
            "add a Feature with properties.kind = operation_area (the area the drone must stay inside)",
        )
    return zones


def _no_unknown(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = set(table) - set(allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", f"known keys: {', '.join(allowed)}")


def _point(value: Any, where: str) -> GeoPoint:
    if not isinstance(value, dict):
        raise InputError(f"{where} is not a table", "write { lat_deg = 51.27, lon_deg = 0.52 }")
    _no_unknown(value, ("lat_deg", "lon_deg", "alt_amsl_m"), where)
    if "lat_deg" not in value or "lon_deg" not in value:
        raise InputError(f"{where} needs lat_deg and lon_deg", "write { lat_deg = 51.27, lon_deg = 0.52 }")
    try:
        return GeoPoint(value["lat_deg"], value["lon_deg"], value.get("alt_amsl_m"))
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}", exc.hint) from None


def _terrain(table: Mapping[str, Any], path: Path) -> TerrainPolicy:
    where = f"{path} [terrain]"
    _no_unknown(table, TERRAIN_KEYS, where)
    flat = table.get("declared_flat", False)
    if not isinstance(flat, bool):
        raise InputError(f"{where} declared_flat is not true/false", "write declared_flat = true or false")
    note = table.get("note", "")
    if not isinstance(note, str):
        raise InputError(f"{where} note is not a string", 'write note = "..."')
    elevation = table.get("elevation_file")
    if elevation is not None and not isinstance(elevation, str):
        raise InputError(f"{where} elevation_file is not a string", 'write elevation_file = "terrain.asc"')
    return TerrainPolicy(path.parent / elevation if elevation else None, flat, note)
