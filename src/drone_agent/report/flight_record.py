"""What a post-flight report shows, read from a flight folder.

The flight folder is the only input: the audit log (``audit.jsonl``: every decision, trigger and
upload), the telemetry log (``telemetry.tlog``: the track), the zones the flight was flown against
(``zones.geojson``, written by ``fly``), and the manifest through :mod:`drone_agent.evidence`
(segments with their hashes, and the verification verdict). Missing optional parts (no telemetry, no
zones) make a thinner report, never a failure; a folder that is not a flight is an InputError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pymavlink import mavutil

from drone_agent.errors import InputError
from drone_agent.evidence import FlightSummary, VerifyReport, read_flight_summary, verify_flight

ZONES_FILE = "zones.geojson"
TELEMETRY_FILE = "telemetry.tlog"
AUDIT_FILE = "audit.jsonl"


@dataclass(frozen=True, slots=True)
class TrackPoint:
    time_utc_s: float
    lat_deg: float
    lon_deg: float
    alt_rel_m: float


@dataclass(frozen=True, slots=True)
class FlightRecord:
    flight_dir: Path
    source: str  # where the flight was read from: the folder, or its location in the store
    summary: FlightSummary
    verification: VerifyReport
    audit: tuple[dict[str, Any], ...]
    track: tuple[TrackPoint, ...]
    zones: tuple[dict[str, Any], ...]  # GeoJSON features

    def audit_time_s(self, record: dict[str, Any]) -> float:
        return datetime.fromisoformat(record["utc"].replace("Z", "+00:00")).timestamp()

    def position_at(self, time_utc_s: float) -> TrackPoint | None:
        """The track point nearest in time (None without a track)."""
        if not self.track:
            return None
        return min(self.track, key=lambda p: abs(p.time_utc_s - time_utc_s))


def recording_spans(record: FlightRecord) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(trigger_start, trigger_stop or None while still recording) pairs, in audit order."""
    spans: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    start = None
    for entry in record.audit:
        if entry["event"] == "trigger_start" and start is None:
            start = entry
        elif entry["event"] == "trigger_stop" and start is not None:
            spans.append((start, entry))
            start = None
    if start is not None:
        spans.append((start, None))
    return spans


def _read_audit(path: Path) -> tuple[dict[str, Any], ...]:
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn line is reported by verification, not here
    return tuple(r for r in records if isinstance(r, dict) and "event" in r and "utc" in r)


def read_track(tlog: Path) -> tuple[TrackPoint, ...]:
    """GLOBAL_POSITION_INT of the autopilot (component 1) from a pymavlink telemetry log."""
    conn = mavutil.mavlink_connection(str(tlog), dialect="ardupilotmega")
    points = []
    try:
        while (msg := conn.recv_match(type="GLOBAL_POSITION_INT")) is not None:
            if msg.get_srcComponent() != 1 or (msg.lat == 0 and msg.lon == 0):
                continue
            points.append(TrackPoint(msg._timestamp, msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1e3))
    finally:
        conn.close()
    return tuple(points)


def load_flight_record(flight_dir: Path, source: str | None = None) -> FlightRecord:
    """Read everything the report shows; InputError when ``flight_dir`` is not a flight folder."""
    flight_dir = Path(flight_dir)
    if not (flight_dir / AUDIT_FILE).is_file():
        raise InputError(f"{flight_dir} is not a flight folder (no {AUDIT_FILE})",
                         "pass the folder 'drone-agent fly' or 'demo' wrote, e.g. flights/<flight_id>")
    zones: tuple[dict[str, Any], ...] = ()
    if (flight_dir / ZONES_FILE).is_file():
        try:
            zones = tuple(json.loads((flight_dir / ZONES_FILE).read_text())["features"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{flight_dir / ZONES_FILE} is not a GeoJSON FeatureCollection ({exc})",
                             "it is written by 'drone-agent fly'; restore it from the evidence store") from exc
    tlog = flight_dir / TELEMETRY_FILE
    return FlightRecord(
        flight_dir=flight_dir,
        source=source or str(flight_dir),
        summary=read_flight_summary(flight_dir),
        verification=verify_flight(flight_dir),
        audit=_read_audit(flight_dir / AUDIT_FILE),
        track=read_track(tlog) if tlog.is_file() else (),
        zones=zones,
    )


def utc_text(time_utc_s: float) -> str:
    return datetime.fromtimestamp(time_utc_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
