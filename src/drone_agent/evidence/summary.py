"""read_flight_summary: what a flight folder holds, from its manifest (no verification)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError, IntegrityError
from drone_agent.evidence.audit import AUDIT_FILE
from drone_agent.evidence.flightfiles import read_lines
from drone_agent.evidence.manifest import MANIFEST_FILE, SIGNATURE_KIND
from drone_agent.evidence.vault import hash_file


@dataclass(frozen=True, slots=True)
class SealedMedia:
    """One sealed segment or still as the manifest records it."""

    kind: str
    index: int
    file: str
    start_utc: str | None
    end_utc: str | None
    frame_count: int | None
    trigger_id: str | None
    plaintext_sha256: str
    plaintext_bytes: int
    ciphertext_sha256: str
    ciphertext_bytes: int
    sealed_utc: str
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FlightFile:
    """A file of the flight folder with its SHA-256 and size (manifest's, or as on disk now)."""

    path: str
    kind: str
    sha256: str | None
    bytes: int | None


@dataclass(frozen=True, slots=True)
class FlightSummary:
    flight_id: str
    operation_name: str | None
    incident_ref: str | None
    started_utc: str
    ended_utc: str | None
    segments: tuple[SealedMedia, ...]
    files: tuple[FlightFile, ...]
    stills: tuple[SealedMedia, ...] = ()
    operation: dict[str, Any] | None = None
    device_key_fingerprint: str | None = None
    evidence_recipient_fingerprint: str | None = None

    @property
    def closed(self) -> bool:
        return self.ended_utc is not None


def _media(rec: dict[str, Any]) -> SealedMedia:
    meta = rec.get("meta") or {}
    return SealedMedia(
        kind=rec["kind"], index=rec["index"], file=rec["file"], start_utc=meta.get("start_utc"),
        end_utc=meta.get("end_utc"), frame_count=meta.get("frame_count"),
        trigger_id=meta.get("trigger_id"), plaintext_sha256=rec["plaintext_sha256"],
        plaintext_bytes=rec["plaintext_bytes"], ciphertext_sha256=rec["ciphertext_sha256"],
        ciphertext_bytes=rec["ciphertext_bytes"], sealed_utc=rec["sealed_utc"], meta=meta)


def _on_disk(flight_dir: Path, rel: str, kind: str) -> FlightFile:
    path = flight_dir / rel
    if not path.is_file():
        return FlightFile(rel, kind, None, None)
    sha, size = hash_file(path)
    return FlightFile(rel, kind, sha, size)


def manifest_records(flight_dir: Path) -> list[dict[str, Any]]:
    """The manifest's parsed records (signature line excluded); InputError if unreadable."""
    lines = read_lines(Path(flight_dir) / MANIFEST_FILE)
    if lines is None:
        raise InputError(f"{flight_dir}: no {MANIFEST_FILE}", "pass a flight folder <out>/<flight_id>")
    records = [ln.record for ln in lines if ln.record and ln.record.get("kind") != SIGNATURE_KIND]
    if not records or records[0].get("kind") != "flight_opened" or any(ln.record is None for ln in lines):
        raise InputError(f"{flight_dir / MANIFEST_FILE}: unreadable manifest",
                         f"run 'drone-agent verify {flight_dir}'")
    return records


def read_flight_summary(flight_dir: Path | str) -> FlightSummary:
    """Summarise a flight folder for other packages (store, report, agent); does not verify."""
    flight_dir = Path(flight_dir)
    records = manifest_records(flight_dir)
    try:
        return _summary(flight_dir, records)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"{flight_dir / MANIFEST_FILE}: malformed record ({exc!r})",
                             f"run 'drone-agent verify {flight_dir}'") from exc


def _summary(flight_dir: Path, records: list[dict[str, Any]]) -> FlightSummary:
    head = records[0]
    operation = head.get("operation") or {}
    closed = next((r for r in records if r.get("kind") == "flight_closed"), None)
    media = [_media(r) for r in records if r.get("kind") in ("segment", "still")]
    files = [_on_disk(flight_dir, MANIFEST_FILE, "manifest"), _on_disk(flight_dir, AUDIT_FILE, "audit")]
    files += [FlightFile(m.file, m.kind, m.ciphertext_sha256, m.ciphertext_bytes) for m in media]
    files += [FlightFile(r["path"], "attached", r.get("sha256"), r.get("bytes"))
              for r in records if r.get("kind") == "file"]
    return FlightSummary(
        flight_id=head["flight_id"], operation_name=operation.get("name"),
        incident_ref=operation.get("incident_ref"), started_utc=head["created_utc"],
        ended_utc=closed.get("closed_utc") if closed else None,
        segments=tuple(m for m in media if m.kind == "segment"), files=tuple(files),
        stills=tuple(m for m in media if m.kind == "still"), operation=dict(operation),
        device_key_fingerprint=(head.get("device_key") or {}).get("fingerprint"),
        evidence_recipient_fingerprint=(head.get("evidence_recipient") or {}).get("fingerprint"))
