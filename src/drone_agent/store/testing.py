"""In-package test tools for the store: stand-in flight folders.

* :func:`make_flight` writes a folder shaped like a flight (files + a JSON-lines ``audit.jsonl``)
  without the evidence package's keys; :class:`JsonlAudit`, :func:`accept_all` and
  :func:`summary_for` stand in for ``AuditLog``, ``verify_flight`` and ``read_flight_summary``.
* the loopback proxy that cuts connections is :class:`drone_agent.cutproxy.CutProxy` (the agent's
  link tests use it too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drone_agent.store.plan import AUDIT_FILE, FlightInfo


def make_flight(root: Path, flight_id: str, files: dict[str, bytes]) -> Path:
    """A flight-shaped folder ``root/flight_id`` with ``files`` and a one-record audit log."""
    flight_dir = Path(root) / flight_id
    for relpath, data in files.items():
        path = flight_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    record = {"seq": 0, "event": "flight_opened", "flight_id": flight_id}
    (flight_dir / AUDIT_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return flight_dir


class JsonlAudit:
    """``audit_for`` stand-in: appends ``{"event": ..., **fields}`` lines to the flight's audit log."""

    def __call__(self, flight_dir: Path):  # -> append(event, **fields)
        path = Path(flight_dir) / AUDIT_FILE

        def append(event: str, **fields: Any) -> dict[str, Any]:
            record = {"event": event, **fields}
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
            return record

        return append

    @staticmethod
    def events(flight_dir: Path) -> list[dict[str, Any]]:
        path = Path(flight_dir) / AUDIT_FILE
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@dataclass(frozen=True, slots=True)
class FakeReport:
    intact: bool = True
    problems: list[str] = field(default_factory=list)


def accept_all(flight_dir: Path) -> FakeReport:
    """``verify_flight`` stand-in that finds every flight intact."""
    return FakeReport()


def summary_for(flight_dir: Path) -> FlightInfo:
    """``read_flight_summary`` stand-in: fixed operation and incident, id from the folder name."""
    return FlightInfo(Path(flight_dir).name, "Op Kestrel", "KP/2026/1234", "2026-11-24T10:15:00Z")
