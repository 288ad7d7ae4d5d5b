"""The flight map as a PNG: zones, track, where recording was on, where the guard acted.

Drawn with OpenCV in the local metric frame of :mod:`drone_agent.geofence` (no map tiles, no
internet). Numbered markers refer to the rows of the report's timeline, so the same picture works
attached to a written report and inside the HTML page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from drone_agent.geofence.geo import GeoPoint, LocalFrame
from drone_agent.report.flight_record import FlightRecord, recording_spans

ZONE_STYLE_BGR = {  # kind -> (fill, outline)
    "operation_area": ((225, 245, 225), (0, 140, 0)),
    "no_fly": ((170, 170, 240), (0, 0, 190)),
    "privacy": ((235, 200, 235), (150, 0, 150)),
}
MARKER_BGR = {
    "guard_warn": (0, 200, 255),
    "guard_stop": (0, 120, 255),
    "guard_rtl": (0, 0, 220),
    "guard_land": (0, 0, 220),
    "trigger_start": (40, 40, 200),
    "trigger_stop": (120, 120, 120),
}
TRACK_BGR = (120, 70, 20)
RECORDING_BGR = (0, 0, 230)


@dataclass(frozen=True, slots=True)
class MapMarker:
    number: int
    audit_index: int  # position of the record in FlightRecord.audit
    event: str
    lat_deg: float
    lon_deg: float


def _zone_rings(feature: dict, frame: LocalFrame) -> list[np.ndarray]:
    """Outer rings (and holes) of a zone feature in local metres; circles as 72-gons."""
    geometry = feature.get("geometry") or {}
    kind = geometry.get("type")
    if kind == "Point":
        lon, lat = geometry["coordinates"][:2]
        east, north = frame.to_local(lat, lon)
        radius_m = float(feature.get("properties", {}).get("radius_m", 0.0))
        angles = np.linspace(0, 2 * math.pi, 73)
        return [np.column_stack([east + radius_m * np.sin(angles), north + radius_m * np.cos(angles)])]
    polygons = [geometry["coordinates"]] if kind == "Polygon" else geometry.get("coordinates", [])
    rings = []
    for polygon in polygons:
        for ring in polygon:
            rings.append(np.array([frame.to_local(lat, lon) for lon, lat, *_ in ring]))
    return rings


class _Canvas:
    def __init__(self, points_m: np.ndarray, width_px: int, height_px: int, margin_px: int = 40) -> None:
        lo, hi = points_m.min(axis=0), points_m.max(axis=0)
        span = np.maximum(hi - lo, 1.0)
        self.scale = min((width_px - 2 * margin_px) / span[0], (height_px - 2 * margin_px) / span[1])
        self.centre = (lo + hi) / 2
        self.size = (width_px, height_px)

    def px(self, points_m: np.ndarray) -> np.ndarray:
        w, h = self.size
        xy = (np.atleast_2d(points_m) - self.centre) * self.scale
        return np.column_stack([w / 2 + xy[:, 0], h / 2 - xy[:, 1]]).round().astype(np.int32)


def _recording_intervals(record: FlightRecord) -> list[tuple[float, float]]:
    return [(record.audit_time_s(start), math.inf if stop is None else record.audit_time_s(stop))
            for start, stop in recording_spans(record)]


def markers_for(record: FlightRecord) -> list[MapMarker]:
    """One numbered marker per guard action and trigger change that has a position."""
    markers = []
    for index, entry in enumerate(record.audit):
        if entry["event"] not in MARKER_BGR:
            continue
        point = record.position_at(record.audit_time_s(entry))
        if point is not None:
            markers.append(MapMarker(len(markers) + 1, index, entry["event"], point.lat_deg, point.lon_deg))
    return markers


def _legend(image: np.ndarray, rows: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
    x, y = 12, 18
    for label, colour in rows:
        cv2.rectangle(image, (x, y - 10), (x + 14, y + 2), colour, -1)
        cv2.putText(image, label, (x + 20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        y += 18


def _scale_bar(image: np.ndarray, canvas: _Canvas) -> None:
    w, h = canvas.size
    nice = (mult * 10 ** power for power in range(0, 6) for mult in (1, 2, 5))
    metres = next((m for m in nice if m * canvas.scale >= 80), 100_000)
    length_px = int(metres * canvas.scale)
    x0, y0 = w - length_px - 20, h - 20
    cv2.line(image, (x0, y0), (x0 + length_px, y0), (0, 0, 0), 2)
    cv2.putText(image, f"{metres:g} m", (x0, y0 - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.arrowedLine(image, (w - 30, 60), (w - 30, 25), (0, 0, 0), 2, tipLength=0.4)
    cv2.putText(image, "N", (w - 36, 78), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 2, cv2.LINE_AA)


def render_map_png(record: FlightRecord, width_px: int = 1100, height_px: int = 800) -> bytes:
    """The map as PNG bytes."""
    origin = record.track[0] if record.track else None
    zone_rings = []
    if origin is None and record.zones:
        lon, lat = _first_position(record.zones[0]["geometry"])
        frame = LocalFrame(GeoPoint(lat, lon))
    else:
        frame = LocalFrame(GeoPoint(origin.lat_deg, origin.lon_deg) if origin else GeoPoint(0.0, 0.0))
    for feature in record.zones:
        kind = feature.get("properties", {}).get("kind", "")
        zone_rings.append((kind, _zone_rings(feature, frame)))
    track_m = np.array([frame.to_local(p.lat_deg, p.lon_deg) for p in record.track]).reshape(-1, 2)
    extent = [track_m] + [ring for kind, rings in zone_rings if kind != "no_fly" for ring in rings]
    extent = [e for e in extent if len(e)] or [np.zeros((1, 2))]
    canvas = _Canvas(np.vstack(extent), width_px, height_px)
    image = np.full((height_px, width_px, 3), 250, np.uint8)

    order = {"operation_area": 0, "privacy": 1, "no_fly": 2}
    for kind, rings in sorted(zone_rings, key=lambda kr: order.get(kr[0], 3)):
        fill, outline = ZONE_STYLE_BGR.get(kind, ((230, 230, 230), (90, 90, 90)))
        polys = [canvas.px(r) for r in rings]
        overlay = image.copy()
        cv2.fillPoly(overlay, polys, fill)
        image = cv2.addWeighted(overlay, 0.6, image, 0.4, 0)
        cv2.polylines(image, polys, True, outline, 2, cv2.LINE_AA)
    for feature, (kind, rings) in zip(record.zones, zone_rings):
        name = feature.get("properties", {}).get("name", "")
        if rings and name:
            x, y = canvas.px(rings[0]).mean(axis=0).astype(int)
            cv2.putText(image, name, (int(x) - 4 * len(name), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        ZONE_STYLE_BGR.get(kind, (0, (60, 60, 60)))[1], 1, cv2.LINE_AA)

    if len(track_m) > 1:
        pts = canvas.px(track_m)
        cv2.polylines(image, [pts], False, TRACK_BGR, 2, cv2.LINE_AA)
        times = np.array([p.time_utc_s for p in record.track])
        for start, end in _recording_intervals(record):
            on = (times >= start) & (times <= end)
            for run in _runs(on):
                if len(run) > 1:
                    cv2.polylines(image, [pts[run]], False, RECORDING_BGR, 5, cv2.LINE_AA)
        cv2.drawMarker(image, tuple(int(v) for v in pts[0]), (0, 0, 0), cv2.MARKER_TRIANGLE_UP, 16, 2)
        cv2.putText(image, "home", (int(pts[0][0]) + 10, int(pts[0][1]) + 14), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (0, 0, 0), 1, cv2.LINE_AA)

    for marker in markers_for(record):
        x, y = canvas.px(np.array(frame.to_local(marker.lat_deg, marker.lon_deg)))[0]
        cv2.circle(image, (int(x), int(y)), 9, MARKER_BGR[marker.event], -1, cv2.LINE_AA)
        cv2.circle(image, (int(x), int(y)), 9, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, str(marker.number), (int(x) + 11, int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)

    _legend(image, [("operation area", ZONE_STYLE_BGR["operation_area"][1]),
                    ("no-fly zone", ZONE_STYLE_BGR["no_fly"][1]),
                    ("privacy zone (masked)", ZONE_STYLE_BGR["privacy"][1]),
                    ("track", TRACK_BGR), ("recording", RECORDING_BGR),
                    ("guard warning", MARKER_BGR["guard_warn"]), ("guard stop", MARKER_BGR["guard_stop"]),
                    ("guard RTL / land", MARKER_BGR["guard_rtl"]),
                    ("recording started", MARKER_BGR["trigger_start"]),
                    ("recording stopped", MARKER_BGR["trigger_stop"])])
    _scale_bar(image, canvas)
    ok, png = cv2.imencode(".png", image)
    assert ok, "PNG encoding of an in-memory image cannot fail"
    return png.tobytes()


def _first_position(geometry: dict) -> tuple[float, float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


def _runs(mask: Iterable[bool]) -> list[np.ndarray]:
    """Index arrays of consecutive True runs."""
    idx = np.flatnonzero(np.asarray(list(mask)))
    if not len(idx):
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
