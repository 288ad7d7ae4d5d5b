"""The zone model and its GeoJSON (RFC 7946) loader.

A zone file is a FeatureCollection. Each Feature has ``properties.kind`` (``operation_area``: stay
inside; ``no_fly``: stay out; ``privacy``: flying allowed, the camera must not record it), a ``name``,
optional ``floor_m`` / ``ceiling_m`` above ground (altitude band; absent = surface / unlimited), and
a Polygon / MultiPolygon geometry (holes allowed) or a Point with ``properties.radius_m`` (a circle).
A ``no_fly`` zone may carry ``permission`` = {granted_by, reference, valid_from, valid_until}: inside
that UTC window the zone may be entered (and the permission is logged).

Every defect is reported as one :class:`InputError` naming the file, ``features[i]`` and the zone
name, what is wrong and how to fix it. Coordinates are ``[lon, lat]`` as RFC 7946 requires.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from drone_agent.errors import InputError

ZONE_KINDS = ("operation_area", "no_fly", "privacy")
KIND_HINT = "set properties.kind to operation_area (stay inside), no_fly (stay out) or privacy (no recording)"
LONLAT_HINT = "GeoJSON positions are [longitude, latitude] (RFC 7946)"


@dataclass(frozen=True, slots=True)
class Permission:
    """Who allowed entry into a no-fly zone (e.g. an FRZ's ATC unit), their reference, and when."""

    granted_by: str
    reference: str
    valid_from_utc: datetime
    valid_until_utc: datetime

    def valid_at(self, now_utc: datetime) -> bool:
        return self.valid_from_utc <= now_utc < self.valid_until_utc

    def as_record(self) -> dict[str, str]:
        return {
            "granted_by": self.granted_by,
            "reference": self.reference,
            "valid_from": self.valid_from_utc.isoformat(),
            "valid_until": self.valid_until_utc.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone. ``geometry`` is in lon/lat degrees: a (Multi)Polygon, or the centre Point of a
    circle whose radius is ``radius_m``. Heights are metres above ground."""

    name: str
    kind: str
    geometry: BaseGeometry
    radius_m: float | None = None
    floor_m: float | None = None
    ceiling_m: float | None = None
    permission: Permission | None = None
    source_file: str = ""
    feature_index: int = 0

    @property
    def is_circle(self) -> bool:
        return self.radius_m is not None

    @property
    def is_banded(self) -> bool:
        return (self.floor_m or 0.0) > 0.0 or self.ceiling_m is not None

    @property
    def label(self) -> str:
        return f"{self.source_file} features[{self.feature_index}] '{self.name}'"


def load_zone_file(path: Path) -> tuple[Zone, ...]:
    """Read and validate one GeoJSON zone file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: zone file not found", "check the path (relative to the profile)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read zone file ({exc})", "give a readable UTF-8 GeoJSON file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})",
            "zone files must be GeoJSON; check it with a JSON validator",
        ) from None
    return zones_from_geojson(document, str(path))


def zones_from_geojson(document: Any, source: str) -> tuple[Zone, ...]:
    """Validate a parsed GeoJSON document (FeatureCollection or single Feature)."""
    if isinstance(document, dict) and document.get("type") == "Feature":
        features = [document]
    elif isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise InputError(f"{source}: 'features' is not a list", "a FeatureCollection needs \"features\": [...]")
    else:
        found = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise InputError(
            f"{source}: top level is {found!r}, not a FeatureCollection",
            'wrap the zones as {"type": "FeatureCollection", "features": [...]}',
        )
    return tuple(_parse_feature(feature, source, index) for index, feature in enumerate(features))


def _parse_feature(feature: Any, source: str, index: int) -> Zone:
    where = f"{source} features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InputError(f"{where}: not a GeoJSON Feature", 'each entry needs "type": "Feature"')
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise InputError(f"{where}: missing properties", 'add "properties": {"kind": ..., "name": ...}')
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: missing name", 'add properties.name, e.g. "name": "HMP Maidstone"')
    where = f"{where} '{name}'"
    kind = props.get("kind")
    if kind is None:
        raise InputError(f"{where}: missing kind", KIND_HINT)
    if kind not in ZONE_KINDS:
        raise InputError(f"{where}: unknown kind {kind!r}", KIND_HINT)
    floor_m = _optional_height(props, "floor_m", where)
    ceiling_m = _optional_height(props, "ceiling_m", where)
    if floor_m is not None and floor_m < 0:
        raise InputError(f"{where}: floor_m {floor_m} is below ground", "heights are metres above ground, >= 0")
    if ceiling_m is not None and ceiling_m <= 0:
        raise InputError(f"{where}: ceiling_m {ceiling_m} is not above ground", "give a positive height or omit it")
    if floor_m is not None and ceiling_m is not None and floor_m >= ceiling_m:
        raise InputError(
            f"{where}: floor_m {floor_m} is not below ceiling_m {ceiling_m}",
            "the band is floor_m (bottom) .. ceiling_m (top); swap them or drop one",
        )
    if kind == "operation_area" and floor_m:
        raise InputError(f"{where}: an operation_area cannot have floor_m", "remove floor_m (the area starts at ground)")
    permission = _parse_permission(props.get("permission"), kind, where)
    geometry_json = feature.get("geometry")
    if not isinstance(geometry_json, dict):
        raise InputError(f"{where}: missing geometry", "add a Polygon, MultiPolygon or Point (with radius_m) geometry")
    gtype = geometry_json.get("type")
    coords = geometry_json.get("coordinates")
    radius_m = None
    if gtype == "Point":
        geometry = Point(_position(coords, where, "the Point"))
        radius_m = _radius(props, where)
    elif gtype == "Polygon":
        geometry = _polygon(coords, where, "")
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise InputError(f"{where}: MultiPolygon has no polygons", "give a list of polygons")
        geometry = MultiPolygon([_polygon(p, where, f"polygon {i} ") for i, p in enumerate(coords)])
        if not geometry.is_valid:
            raise InputError(
                f"{where}: MultiPolygon parts overlap ({shapely.is_valid_reason(geometry)})",
                "merge overlapping parts into one polygon or make them separate features",
            )
    else:
        raise InputError(
            f"{where}: unsupported geometry type {gtype!r}",
            "use Polygon, MultiPolygon, or Point with properties.radius_m for a circle",
        )
    if radius_m is None and "radius_m" in props:
        raise InputError(f"{where}: radius_m given for a {gtype}", "radius_m only applies to Point geometries")
    return Zone(
        name=name.strip(),
        kind=kind,
        geometry=geometry,
        radius_m=radius_m,
        floor_m=floor_m,
        ceiling_m=ceiling_m,
        permission=permission,
        source_file=source,
        feature_index=index,
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_height(props: dict, key: str, where: str) -> float | None:
    value = props.get(key)
    if value is None:
        return None
    if not _number(value):
        raise InputError(f"{where}: {key} {value!r} is not a number", f"give {key} in metres above ground")
    return float(value)


def _radius(props: dict, where: str) -> float:
    if "radius_m" not in props:
        raise InputError(f"{where}: Point without radius_m", "a Point is a circle: add properties.radius_m (metres)")
    radius = props["radius_m"]
    if not _number(radius) or radius <= 0:
        raise InputError(f"{where}: radius_m {radius!r} is not a positive number", "give the circle radius in metres")
    return float(radius)


def _position(value: Any, where: str, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise InputError(f"{where}: {what} position {value!r} is not [lon, lat]", LONLAT_HINT)
    if not all(_number(v) for v in value):
        raise InputError(f"{where}: {what} position {value!r} has a non-number (NaN or string)", LONLAT_HINT)
    lon, lat = float(value[0]), float(value[1])
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise InputError(
            f"{where}: {what} position [{lon}, {lat}] is out of range",
            f"{LONLAT_HINT}: longitude -180..180, latitude -90..90",
        )
    return lon, lat


def _ring(value: Any, where: str, what: str) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise InputError(f"{where}: {what} is not a list of positions", LONLAT_HINT)
    positions = [_position(p, where, what) for p in value]
    if len(positions) < 4:
        raise InputError(
            f"{where}: {what} has {len(positions)} positions, fewer than 4",
            "a ring needs at least 3 corners plus the first repeated as the last position",
        )
    if positions[0] != positions[-1]:
        raise InputError(f"{where}: {what} is not closed", "repeat the first position as the last one")
    return positions


def _polygon(value: Any, where: str, prefix: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: {prefix}Polygon has no rings", "give [[exterior ring], [hole], ...]")
    exterior = _ring(value[0], where, f"{prefix}exterior ring")
    holes = [_ring(r, where, f"{prefix}hole {i}") for i, r in enumerate(value[1:], start=1)]
    polygon = Polygon(exterior, holes)
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        raise InputError(
            f"{where}: {prefix}polygon is invalid ({reason})",
            "a ring must not cross itself (self-intersection) and holes must lie inside the exterior; "
            "redraw the outline in order around the edge",
        )
    if polygon.area == 0:
        raise InputError(f"{where}: {prefix}polygon has zero area", "the corners are in a line; redraw it")
    return polygon


def _utc(value: Any, where: str, key: str) -> datetime:
    hint = "give an ISO-8601 UTC time such as 2026-11-24T09:00:00Z"
    if not isinstance(value, str):
        raise InputError(f"{where}: permission.{key} missing or not a string", hint)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: permission.{key} {value!r} is not a date-time", hint) from None
    if parsed.tzinfo is None:
        raise InputError(f"{where}: permission.{key} {value!r} has no time zone", hint)
    return parsed


def _parse_permission(value: Any, kind: str, where: str) -> Permission | None:
    if value is None:
        return None
    if kind != "no_fly":
        raise InputError(f"{where}: permission on a {kind} zone", "permission only applies to no_fly zones")
    if not isinstance(value, dict):
        raise InputError(f"{where}: permission is not an object", "give {granted_by, reference, valid_from, valid_until}")
    unknown = set(value) - {"granted_by", "reference", "valid_from", "valid_until"}
    if unknown:
        raise InputError(
            f"{where}: unknown permission key(s) {', '.join(sorted(unknown))}",
            "allowed: granted_by, reference, valid_from, valid_until",
        )
    for key in ("granted_by", "reference"):
        if not isinstance(value.get(key), str) or not value[key].strip():
            raise InputError(f"{where}: permission.{key} is missing", "say who granted entry and their reference")
    valid_from = _utc(value.get("valid_from"), where, "valid_from")
    valid_until = _utc(value.get("valid_until"), where, "valid_until")
    if valid_until <= valid_from:
        raise InputError(f"{where}: permission ends before it starts", "valid_until must be after valid_from")
    return Permission(value["granted_by"].strip(), value["reference"].strip(), valid_from, valid_until)


def zone_to_feature(zone: Zone) -> dict[str, Any]:
    """The GeoJSON Feature for a zone (used by the builders and for round trips)."""
    props: dict[str, Any] = {"kind": zone.kind, "name": zone.name}
    if zone.radius_m is not None:
        props["radius_m"] = zone.radius_m
    if zone.floor_m is not None:
        props["floor_m"] = zone.floor_m
    if zone.ceiling_m is not None:
        props["ceiling_m"] = zone.ceiling_m
    if zone.permission is not None:
        props["permission"] = zone.permission.as_record()
    return {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(zone.geometry)}
