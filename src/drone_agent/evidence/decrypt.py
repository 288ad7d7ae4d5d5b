"""decrypt_flight: verify a flight folder, then decrypt its media and write an exhibit summary.

Runs at the evidence store / by the investigator, who holds the evidence private key. Each sealed
file is decrypted (streaming) to a temporary file while its plaintext is hashed; only a plaintext
whose SHA-256 equals the signed manifest's is renamed into place. Alongside: ``SHA256SUMS``
(``sha256sum -c`` format) and ``exhibit-summary.txt`` (hashes, times, operation, operator, the
audit trail with who/why for every event).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from drone_agent import __version__
from drone_agent.errors import InputError, IntegrityError
from drone_agent.evidence.audit import AUDIT_FILE
from drone_agent.evidence.durable import atomic_write, atomic_write_with
from drone_agent.evidence.flightfiles import read_lines
from drone_agent.evidence.keys import EvidenceIdentity
from drone_agent.evidence.manifest import MANIFEST_FILE
from drone_agent.evidence.records import utc_iso, utc_now
from drone_agent.evidence.summary import manifest_records
from drone_agent.evidence.vault import HashingWriter, hash_file
from drone_agent.evidence.verify import VerifyReport, verify_flight

SUMMARY_FILE = "exhibit-summary.txt"
SUMS_FILE = "SHA256SUMS"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class DecryptResult:
    out_dir: Path
    media: tuple[Path, ...]
    summary_path: Path
    report: VerifyReport


def output_name(rec: dict[str, Any]) -> str:
    ext = "mp4" if rec["kind"] == "segment" else "jpg"
    return f"{rec['kind']}-{rec['index']:06d}.{ext}"


def decrypt_file(source: Path, dest: Path, identity: EvidenceIdentity, plaintext_sha256: str) -> None:
    """Decrypt ``source`` to ``dest`` atomically; IntegrityError unless the plaintext hash matches."""
    got: list[str] = []

    def produce(fd: int) -> None:
        writer = HashingWriter(fd)
        with source.open("rb") as fh:
            try:
                pyrage.decrypt_io(fh, writer, [identity.age])
            except pyrage.DecryptError as exc:
                raise IntegrityError(f"{source}: age decryption failed ({exc})",
                                     "the file is damaged or sealed to another evidence key") from exc
        got.append(writer.sha256.hexdigest())
        if got[0] != plaintext_sha256:
            raise IntegrityError(f"{source}: decrypted SHA-256 {got[0]} differs from the manifest's "
                                 f"{plaintext_sha256}", "treat the exhibit as unreliable")

    atomic_write_with(dest, produce, mode=0o600)


def decrypt_flight(flight_dir: Path | str, identity: EvidenceIdentity, out_dir: Path | str,
                   allow_incomplete: bool = False, trusted_keys: Iterable[str] = (),
                   who: str | None = None, reason: str | None = None, source: str | None = None,
                   before_decrypt: Callable[[VerifyReport, list[str]], None] | None = None) -> DecryptResult:
    """Verify, then decrypt every sealed file; ``who``/``reason`` go into the exhibit summary, and
    ``source`` (where the flight came from, default: the folder) into it and into error messages.
    ``before_decrypt(report, files)`` runs once every check has passed and before the first byte is
    decrypted, with the sealed files about to be decrypted (the store logs the consultation there);
    if it raises, nothing is written."""
    flight_dir, out_dir = Path(flight_dir), Path(out_dir)
    where = source or str(flight_dir.resolve())
    report = verify_flight(flight_dir, trusted_keys)
    if not report.intact:
        raise IntegrityError(f"{where}: tampered ({len(report.findings)} finding(s), first: "
                             f"{report.problems[0]}); nothing decrypted",
                             f"run 'drone-agent verify {where}' for the full list")
    if not report.complete and not allow_incomplete:
        raise IntegrityError(f"{where}: incomplete but intact ({report.problems[0]}); nothing decrypted",
                             "pass --allow-incomplete to decrypt every sealed segment that verifies")
    records = manifest_records(flight_dir)
    sealed_to = (records[0].get("evidence_recipient") or {}).get("age_recipient")
    if sealed_to != identity.recipient.recipient:
        raise InputError(f"this evidence key ({identity.recipient.recipient}) cannot open flight "
                         f"{report.flight_id}: it was sealed to {sealed_to}",
                         "use the evidence store's private key that matches the manifest")
    dest = out_dir / str(report.flight_id)
    if dest.exists():
        raise InputError(f"{dest} already exists", "choose another --out folder or remove it")
    sealed = [rec for rec in records
              if rec.get("kind") in ("segment", "still") and (flight_dir / rec["file"]).is_file()]
    if before_decrypt is not None:
        before_decrypt(report, [rec["file"] for rec in sealed])
    try:
        dest.mkdir(parents=True)
    except FileExistsError as exc:
        raise InputError(f"{dest} already exists", "choose another --out folder or remove it") from exc
    media = []
    for rec in sealed:
        target = dest / output_name(rec)
        decrypt_file(flight_dir / rec["file"], target, identity, rec["plaintext_sha256"])
        media.append(target)
    sums = "".join(f"{hash_file(p)[0]}  {p.name}\n" for p in media)
    atomic_write(dest / SUMS_FILE, sums.encode())
    summary = dest / SUMMARY_FILE
    consultation = f"{who or getpass.getuser()} (reason: {reason or 'not given'})"
    atomic_write(summary, exhibit_summary(flight_dir, records, report, {p.name for p in media},
                                          consultation, where).encode())
    return DecryptResult(dest, tuple(media), summary, report)


def _fields(rec: dict[str, Any], skip: Iterable[str]) -> str:
    skip = set(skip)
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, sort_keys=True)}"
                     for k, v in sorted(rec.items()) if k not in skip)


def exhibit_summary(flight_dir: Path, records: list[dict[str, Any]], report: VerifyReport,
                    decrypted: set[str], consultation: str, source: str) -> str:
    head = records[0]
    op = head.get("operation") or {}
    closed = next((r for r in records if r.get("kind") == "flight_closed"), None)
    out = [f"EXHIBIT SUMMARY - drone-agent flight {head.get('flight_id')}",
           f"Produced {utc_iso(utc_now())} by drone-agent {__version__} 'decrypt' on host {os.uname().nodename}",
           f"Decrypted by: {consultation}",
           f"Verification: {report.status}",
           *[f"  {p}" for p in report.problems], *[f"  note: {n}" for n in report.notes], "",
           f"Operation name:      {op.get('name')}", f"Incident reference:  {op.get('incident_ref')}",
           f"Operator:            {op.get('operator', op.get('pilot'))}",
           f"Config SHA-256:      {op.get('config_sha256')}",
           f"Flight opened (UTC): {head.get('created_utc')}",
           f"Flight closed (UTC): {closed.get('closed_utc') if closed else 'NOT CLOSED (recording interrupted)'}",
           f"Device signing key:  {report.device_key_fingerprint}",
           f"Sealed to evidence key: {(head.get('evidence_recipient') or {}).get('fingerprint')}",
           f"Source:              {source}"]
    for name in (MANIFEST_FILE, AUDIT_FILE):
        if (flight_dir / name).is_file():
            out.append(f"{name + ' SHA-256:':21}{hash_file(flight_dir / name)[0]}")
    out += ["", "MEDIA (plaintext SHA-256 re-computed after decryption and equal to the signed manifest)"]
    for rec in records:
        if rec.get("kind") not in ("segment", "still"):
            continue
        meta = rec.get("meta") or {}
        name = output_name(rec)
        state = name if name in decrypted else "NOT DECRYPTED (file deleted locally after upload)"
        out += [f"- {state}  from {rec['file']}",
                f"    time {meta.get('start_utc')} .. {meta.get('end_utc')}, frames {meta.get('frame_count')}, "
                f"trigger {meta.get('trigger_id')}, sealed {rec.get('sealed_utc')}",
                f"    masked zones {json.dumps(meta.get('masked_zones'))}, full frame masked "
                f"{meta.get('full_frame_masked')}",
                f"    plaintext SHA-256  {rec['plaintext_sha256']} ({rec['plaintext_bytes']} bytes)",
                f"    ciphertext SHA-256 {rec['ciphertext_sha256']} ({rec['ciphertext_bytes']} bytes)"]
        extra = {k: v for k, v in meta.items() if k not in
                 ("start_utc", "end_utc", "frame_count", "trigger_id", "masked_zones", "full_frame_masked")}
        if extra:
            out.append(f"    other metadata: {_fields(extra, ())}")
    files = [r for r in records if r.get("kind") == "file"]
    if files:
        out += ["", "ATTACHED FILES (hashed when the flight closed)"]
        out += [f"- {r.get('path')}: " + ("MISSING at close" if r.get("missing") else
                                         f"SHA-256 {r.get('sha256')} ({r.get('bytes')} bytes)") for r in files]
    out += ["", "AUDIT TRAIL (every record signed by the device key and hash-chained)"]
    for line in read_lines(flight_dir / AUDIT_FILE) or []:
        rec = line.record
        if rec is not None:
            out.append(f"{rec.get('seq'):>5} {rec.get('utc')} {rec.get('event')}: "
                       f"{_fields(rec, ('seq', 'utc', 'event', 'prev_sha256', 'sig', 'device_public_key_b64'))}")
    return "\n".join(out) + "\n"
