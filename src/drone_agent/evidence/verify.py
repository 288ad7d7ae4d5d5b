"""verify_flight: check a flight folder's signatures, hash chains, files and their agreement.

Two kinds of finding: **tampered** (something was altered, removed, added, duplicated, reordered or
signed by another key) and **incomplete** (the recorder stopped before closing the flight: the
states a crash at any instant can leave, see ``vault``). ``intact`` means no tampered finding;
``complete`` means intact, closed, and no incomplete finding. Every finding names the file, the line
or record, and what is wrong. Verification needs no secret: the device public key is in the flight
(and may be pinned with ``trusted_keys``), and files are checked against ciphertext hashes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError
from drone_agent.evidence.audit import AUDIT_FILE, OPENED_EVENT, RECOVERED_EVENT, unsigned_body
from drone_agent.evidence.durable import is_temp_name
from drone_agent.evidence.flightfiles import Line, read_lines
from drone_agent.evidence.keys import ed25519_fingerprint, signature_valid
from drone_agent.evidence.manifest import MANIFEST_FILE, SIGNATURE_KIND
from drone_agent.evidence.records import GENESIS_SHA256, encode_line
from drone_agent.evidence.vault import (
    SEGMENT_SUFFIX, SEGMENTS_DIR, STILL_SUFFIX, STILLS_DIR, hash_file,
)

TAMPERED = "tampered"
INCOMPLETE = "incomplete"
MEDIA = {"segment": ("segment_sealed", SEGMENTS_DIR, SEGMENT_SUFFIX),
         "still": ("still_sealed", STILLS_DIR, STILL_SUFFIX)}
MEDIA_EVENTS = {event: kind for kind, (event, _, _) in MEDIA.items()}
NOT_AFTER_CLOSE = frozenset({"segment_sealed", "still_sealed", "flight_closed", OPENED_EVENT})
DELETE_EVENT = "local_delete"


def _text(value: Any) -> str | None:
    """``value`` if it is a string, else None: verify never trusts a field's type."""
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _safe_relative(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.where}: {self.what}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    flight_dir: Path
    flight_id: str | None
    device_key_fingerprint: str | None
    closed: bool
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    segments_verified: int
    stills_verified: int
    files_verified: int

    @property
    def intact(self) -> bool:
        return not any(f.severity == TAMPERED for f in self.findings)

    @property
    def complete(self) -> bool:
        return self.intact and self.closed and not self.findings

    @property
    def problems(self) -> list[str]:
        return [str(f) for f in self.findings]

    @property
    def status(self) -> str:
        if not self.intact:
            return "TAMPERED"
        return "INTACT" if self.complete else "INCOMPLETE BUT INTACT"


@dataclass
class _Checker:
    flight_dir: Path
    trusted: frozenset[str]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flagged: set[str] = field(default_factory=set)
    key_b64: str | None = None
    fingerprint: str | None = None
    flight_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"segment": 0, "still": 0, "file": 0})
    unreadable_seqs: set[int] = field(default_factory=set)  # manifest records already reported

    def tampered(self, where: str, what: str) -> None:
        self.flagged.add(where.split(" (")[0])
        self.findings.append(Finding(TAMPERED, where, what))

    def incomplete(self, where: str, what: str) -> None:
        self.findings.append(Finding(INCOMPLETE, where, what))

    # -- keys ---------------------------------------------------------------------------------
    def device_key(self, manifest: list[Line] | None, audit: list[Line] | None) -> None:
        m_head = manifest[0].record if manifest and manifest[0].record else {}
        a_head = audit[0].record if audit and audit[0].record else {}
        m_key = (_text(_map(m_head.get("device_key")).get("public_key_b64"))
                 if m_head.get("kind") == "flight_opened" else None)
        a_key = _text(a_head.get("device_public_key_b64")) if a_head.get("event") == OPENED_EVENT else None
        if m_key and a_key and m_key != a_key:
            self.tampered(f"{AUDIT_FILE} line 1", "names a different device key from manifest.jsonl line 1")
        self.key_b64 = m_key or a_key
        self.flight_id = _text(m_head.get("flight_id")) or _text(a_head.get("flight_id"))
        if not self.key_b64:
            self.tampered(MANIFEST_FILE, "no readable device public key in manifest or audit log line 1")
            return
        try:
            self.fingerprint = ed25519_fingerprint(base64.b64decode(self.key_b64, validate=True))
        except ValueError:  # binascii.Error is a ValueError
            self.tampered(f"{MANIFEST_FILE} line 1", "device public key is not valid base64")
            return
        if self.trusted and self.fingerprint not in self.trusted:
            self.tampered(f"{MANIFEST_FILE} line 1",
                          f"device key {self.fingerprint} is not one of the trusted device keys")
        if self.flight_id and self.flight_id != self.flight_dir.name:
            self.notes.append(f"folder name {self.flight_dir.name!r} differs from flight id {self.flight_id!r}")

    def signed_by_device(self, signature_b64: Any, body: bytes) -> bool:
        return bool(self.key_b64) and isinstance(signature_b64, str) and signature_valid(
            self.key_b64, signature_b64, body)

    # -- chains -------------------------------------------------------------------------------
    def chain(self, name: str, lines: list[Line]) -> None:
        """Sequence numbers and prev-hash links; findings name the line that was altered."""
        expected_seq, prev_line = 0, None
        for line in lines:
            rec = line.record
            if rec is None:  # reported already; the next line's link is checked against it
                expected_seq, prev_line = expected_seq + 1, line
                continue
            seq = rec.get("seq")
            if seq != expected_seq:
                if isinstance(seq, int) and seq > expected_seq:
                    gone = f"seq {expected_seq}" + (f"..{seq - 1}" if seq - 1 > expected_seq else "")
                    self.tampered(line.where(name), f"record {gone} missing before this line (removed)")
                else:
                    self.tampered(line.where(name), f"seq {seq!r} where {expected_seq} expected "
                                  "(record duplicated or reordered)")
            elif rec.get("prev_sha256") != (prev_line.sha256 if prev_line else GENESIS_SHA256):
                if prev_line is None:
                    self.tampered(line.where(name), "first record does not start the chain")
                elif prev_line.where(name).split(" (")[0] not in self.flagged:
                    self.tampered(prev_line.where(name), f"altered: its SHA-256 no longer matches the "
                                  f"prev_sha256 stored in line {line.number}")
            expected_seq = seq + 1 if isinstance(seq, int) else expected_seq + 1
            prev_line = line

    def manifest(self, lines: list[Line] | None) -> list[Line]:
        if lines is None:
            self.tampered(MANIFEST_FILE, "missing (deleted)")
            return []
        if not lines:
            self.tampered(MANIFEST_FILE, "empty")
            return []
        for line in lines:
            if line.record is None:
                self.tampered(line.where(MANIFEST_FILE), f"{line.error}: the line was altered")
        sig_line = lines[-1]
        records = lines[:-1]
        if not sig_line.record or sig_line.record.get("kind") != SIGNATURE_KIND:
            if sig_line.record:
                self.tampered(sig_line.where(MANIFEST_FILE), "last line is not the signature "
                              "(manifest truncated or records appended after signing)")
            records = lines
        self.unreadable_seqs = {ln.number - 1 for ln in records if ln.record is None}
        self.chain(MANIFEST_FILE, records)
        if sig_line.record and sig_line.record.get("kind") == SIGNATURE_KIND:
            self.manifest_signature(sig_line, records)
        self.manifest_structure(records)
        return [ln for ln in records if ln.record is not None]

    def manifest_signature(self, sig_line: Line, records: list[Line]) -> None:
        sig = sig_line.record or {}
        where = sig_line.where(MANIFEST_FILE) + " (signature)"
        body = {k: v for k, v in sig.items() if k != "ed25519_b64"}
        if sig.get("key_fingerprint") != self.fingerprint:
            self.tampered(where, f"signed with key {sig.get('key_fingerprint')}, but the flight's "
                          f"device key is {self.fingerprint} (signature from another device key)")
        elif not self.signed_by_device(sig.get("ed25519_b64"), encode_line(body)):
            self.tampered(where, f"Ed25519 signature does not verify with device key {self.fingerprint} "
                          "(signature line altered or made with another key)")
        if sig.get("records") != len(records):
            self.tampered(where, f"signature covers {sig.get('records')} records but the file has "
                          f"{len(records)} (records added or removed after signing)")
        elif records and sig.get("head_sha256") != records[-1].sha256:
            self.tampered(records[-1].where(MANIFEST_FILE), "altered: its SHA-256 differs from the "
                          "head hash the signature covers")
        if self.flight_id and sig.get("flight_id") != self.flight_id:
            self.tampered(where, f"signature names flight {sig.get('flight_id')!r}, not {self.flight_id!r}")

    def manifest_structure(self, records: list[Line]) -> None:
        index = {"segment": 0, "still": 0}
        closed_at = None
        for line in records:
            rec = line.record
            if rec is None:
                continue
            kind, where = _text(rec.get("kind")), line.where(MANIFEST_FILE)
            if line.number == 1:
                if kind != "flight_opened":
                    self.tampered(where, f"first record is {kind!r}, not flight_opened")
                continue
            if closed_at is not None:
                self.tampered(where, f"{kind} record after flight_closed (line {closed_at})")
            if kind in MEDIA:
                _, subdir, suffix = MEDIA[kind]
                index[kind] += 1
                expected_file = f"{subdir}/{index[kind]:06d}{suffix}"
                if rec.get("index") != index[kind] or rec.get("file") != expected_file:
                    self.tampered(where, f"{kind} {rec.get('index')!r} ({rec.get('file')!r}) where "
                                  f"{kind} {index[kind]} ({expected_file}) expected: missing, "
                                  "duplicated or reordered")
                    index[kind] = _int(rec.get("index")) or index[kind]
            elif kind == "flight_closed":
                closed_at = line.number
                for k in ("segment", "still"):
                    if rec.get(f"{k}s") != index[k]:
                        self.tampered(where, f"says {rec.get(k + 's')!r} {k}s but the manifest lists {index[k]}")
            elif kind != "file":
                self.tampered(where, f"unknown record kind {kind!r}")

    def audit(self, lines: list[Line] | None) -> list[Line]:
        if lines is None:
            self.tampered(AUDIT_FILE, "missing (deleted)")
            return []
        valid: list[Line] = []
        chained: list[Line] = []
        for pos, line in enumerate(lines):
            where = line.where(AUDIT_FILE)
            if line.record is None:
                nxt = lines[pos + 1].record if pos + 1 < len(lines) else None
                if not line.terminated:
                    self.incomplete(where, "torn last record (power lost during a write)")
                elif nxt and nxt.get("event") == RECOVERED_EVENT and nxt.get("torn_sha256") == line.sha256:
                    self.notes.append(f"{where}: torn record from an earlier crash, "
                                      f"recovered by line {line.number + 1}")
                else:
                    self.tampered(where, f"{line.error}: the line was altered")
                    chained.append(line)
                continue
            chained.append(line)
            if not self.signed_by_device(line.record.get("sig"), unsigned_body(line.record)):
                self.tampered(where, f"signature does not verify with device key {self.fingerprint} "
                              "(record altered or signed by another key)")
            valid.append(line)
        self.chain(AUDIT_FILE, chained)
        if valid and (valid[0].number != 1 or valid[0].record.get("event") != OPENED_EVENT):
            self.tampered(valid[0].where(AUDIT_FILE), "audit log does not start with flight_opened")
        if valid and self.flight_id and valid[0].record.get("flight_id") != self.flight_id:
            self.tampered(valid[0].where(AUDIT_FILE), f"names flight {valid[0].record.get('flight_id')!r}, "
                          f"manifest names {self.flight_id!r}")
        return valid

    # -- agreement ----------------------------------------------------------------------------
    def agreement(self, manifest: list[Line], audit: list[Line]) -> bool:
        """Cross-check media and close records; returns whether either file records the close."""
        m_closed = next((ln for ln in manifest if ln.record.get("kind") == "flight_closed"), None)
        a_closed = next((ln for ln in audit if ln.record.get("event") == "flight_closed"), None)
        by_seq: dict[int | None, list[Line]] = {}
        for ln in audit:
            if _text(ln.record.get("event")) in MEDIA_EVENTS:
                by_seq.setdefault(_int(ln.record.get("manifest_seq")), []).append(ln)
        last_seq = _int(manifest[-1].record.get("seq")) if manifest else None
        media = [ln for ln in manifest if _text(ln.record.get("kind")) in MEDIA]
        for m in media:
            rec, where = m.record, m.where(MANIFEST_FILE)
            event = MEDIA[rec["kind"]][0]
            found = by_seq.pop(_int(rec.get("seq")), []) if _int(rec.get("seq")) is not None else []
            if not found:
                if m_closed is None and a_closed is None and _int(rec.get("seq")) == last_seq:
                    self.incomplete(where, f"{rec['kind']} {rec.get('index')} sealed but its {event} audit "
                                    "record was not written (interrupted)")
                else:
                    self.tampered(where, f"{rec['kind']} {rec.get('index')} ({rec.get('file')}) has no "
                                  f"{event} record in {AUDIT_FILE} (audit record removed)")
                continue
            for extra in found[1:]:
                self.tampered(extra.where(AUDIT_FILE), f"second {event} record for manifest seq {rec['seq']}")
            a = found[0].record
            for key, want in (("event", event), ("file", rec.get("file")),
                              ("ciphertext_sha256", rec.get("ciphertext_sha256")),
                              ("plaintext_sha256", rec.get("plaintext_sha256")),
                              ("manifest_record_sha256", m.sha256)):
                if a.get(key) != want:
                    self.tampered(found[0].where(AUDIT_FILE), f"{key} disagrees with {where} "
                                  f"({a.get(key)!r} vs {want!r})")
                    break
        for seq, lns in by_seq.items():
            if seq in self.unreadable_seqs:
                continue  # its manifest line was reported as unreadable
            for ln in lns:
                a = ln.record
                self.tampered(ln.where(AUDIT_FILE), f"records {a.get('event')} for {a.get('file')!r} "
                              f"(manifest seq {a.get('manifest_seq')!r}) but {MANIFEST_FILE} has no such "
                              "record (manifest replaced by an older one, or record removed)")
        if m_closed:
            self.audit_head_at_close(m_closed, audit)
        if m_closed and a_closed:
            self.close_records(m_closed, a_closed)
        elif m_closed:
            self.incomplete(AUDIT_FILE, "no flight_closed record although the manifest is closed "
                            "(closing interrupted)")
        elif a_closed:
            self.tampered(a_closed.where(AUDIT_FILE), f"records the flight closed (manifest head "
                          f"{a_closed.record.get('manifest_head_sha256')}) but {MANIFEST_FILE} is not closed "
                          "(manifest replaced by an older one)")
        else:
            self.incomplete(MANIFEST_FILE, "flight not closed (recorder stopped: crash or power loss); "
                            "every sealed record up to here verifies")
        if a_closed:
            for ln in audit:
                if ln.number > a_closed.number and _text(ln.record.get("event")) in NOT_AFTER_CLOSE:
                    self.tampered(ln.where(AUDIT_FILE), f"{ln.record.get('event')} after flight_closed "
                                  f"(line {a_closed.number})")
        return m_closed is not None or a_closed is not None

    def close_records(self, m_closed: Line, a_closed: Line) -> None:
        m, a = m_closed.record, a_closed.record
        if a.get("manifest_head_sha256") != m_closed.sha256 or a.get("manifest_seq") != m.get("seq"):
            self.tampered(a_closed.where(AUDIT_FILE), f"flight_closed names manifest head "
                          f"{a.get('manifest_head_sha256')} but {m_closed.where(MANIFEST_FILE)} hashes to "
                          f"{m_closed.sha256} (manifest replaced or altered)")

    def audit_head_at_close(self, m_closed: Line, audit: list[Line]) -> None:
        """The audit record the manifest sealed at close must still be there, unchanged."""
        m = m_closed.record
        sealed = next((ln for ln in audit if ln.record.get("seq") == m.get("audit_seq")), None)
        if sealed is None or sealed.sha256 != m.get("audit_head_sha256"):
            what = ("missing (audit log truncated)" if sealed is None else "altered")
            self.tampered(f"{AUDIT_FILE} seq {m.get('audit_seq')}", f"{what}: the manifest sealed this "
                          f"record's hash at close ({m_closed.where(MANIFEST_FILE)})")

    # -- files --------------------------------------------------------------------------------
    def files(self, manifest: list[Line], audit: list[Line], closed: bool) -> None:
        deleted = self.deleted_files(audit)
        in_audit = {_text(ln.record.get("file")): ln for ln in audit
                    if _text(ln.record.get("event")) in MEDIA_EVENTS}
        media = [ln for ln in manifest if _text(ln.record.get("kind")) in MEDIA]
        known = {_text(ln.record.get("ciphertext_sha256")): ln.record for ln in media}
        listed = {_text(ln.record.get("file")) for ln in media}
        for ln in media:
            rec = ln.record
            self.check_file(str(rec.get("file")), rec.get("ciphertext_sha256"), rec.get("ciphertext_bytes"),
                            known, deleted, rec["kind"])
        for ln in manifest:
            rec = ln.record
            if rec.get("kind") == "file":
                if rec.get("missing"):
                    self.notes.append(f"{rec.get('path')}: was missing when the flight closed")
                else:
                    self.check_file(str(rec.get("path")), rec.get("sha256"), rec.get("bytes"), {}, deleted, "file")
        last_index = {k: max((_int(ln.record.get("index")) or 0 for ln in media if ln.record["kind"] == k),
                             default=0) for k in MEDIA}
        for kind, (_, subdir, suffix) in MEDIA.items():
            folder = self.flight_dir / subdir
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                rel = f"{subdir}/{path.name}"
                if rel in listed:
                    continue
                if is_temp_name(path.name):
                    self.notes.append(f"{rel}: partial file of an interrupted seal (not evidence)")
                    continue
                sha, _ = hash_file(path)
                if sha in known:
                    self.tampered(rel, f"not in the manifest; a copy of {known[sha]['kind']} "
                                  f"{known[sha].get('index')} ({known[sha].get('file')}): duplicated")
                elif rel in in_audit and _int(in_audit[rel].record.get("manifest_seq")) in self.unreadable_seqs:
                    self.tampered(rel, f"its manifest record (line {in_audit[rel].record['manifest_seq'] + 1}) "
                                  "is unreadable, so no signed hash vouches for it")
                elif rel in in_audit:
                    self.tampered(rel, f"not listed in the manifest, yet {in_audit[rel].where(AUDIT_FILE)} "
                                  "records it sealed (manifest replaced by an older one)")
                elif not closed and path.name == f"{last_index[kind] + 1:06d}{suffix}":
                    self.incomplete(rel, "sealed but not yet in the manifest (interrupted before the "
                                    "manifest record was signed); no signed hash vouches for it")
                else:
                    self.tampered(rel, "not listed in the manifest (inserted: from another flight or forged)")

    def deleted_files(self, audit: list[Line]) -> set[str]:
        out: set[str] = set()
        for ln in audit:
            if _text(ln.record.get("event")) == DELETE_EVENT:
                files = ln.record.get("files") or []
                out.update(str(f) for f in (files if isinstance(files, list) else [files]))
                for key in ("file", "path"):
                    if isinstance(ln.record.get(key), str):
                        out.add(ln.record[key])
        return out

    def check_file(self, rel: str, sha256: Any, size: Any, known: dict[Any, dict[str, Any]],
                   deleted: set[str], kind: str) -> None:
        if not _safe_relative(rel):
            self.tampered(MANIFEST_FILE, f"names an unsafe path {rel!r} (outside the flight folder)")
            return
        path = self.flight_dir / rel
        if not path.is_file():
            if rel in deleted:
                self.notes.append(f"{rel}: deleted locally after upload (audit local_delete)")
            else:
                self.tampered(rel, "missing: the manifest lists it (deleted)")
            return
        actual, actual_size = hash_file(path)
        if actual == sha256:
            self.counts[kind] += 1
        elif actual in known:
            other = known[actual]
            self.tampered(rel, f"holds the content of {other['kind']} {other.get('index')} "
                          f"({other.get('file')}): segments swapped, reordered or duplicated")
        elif isinstance(size, int) and actual_size < size:
            self.tampered(rel, f"truncated or replaced: {actual_size} bytes, the manifest says {size}")
        elif isinstance(size, int) and actual_size > size:
            self.tampered(rel, f"extended or replaced: {actual_size} bytes, the manifest says {size}")
        else:
            self.tampered(rel, f"altered or replaced: same size but SHA-256 {actual}, the manifest says {sha256}")


def verify_flight(flight_dir: Path | str, trusted_keys: Iterable[str] = ()) -> VerifyReport:
    """Verify one flight folder. InputError if it is not a flight folder at all."""
    flight_dir = Path(flight_dir)
    if not flight_dir.is_dir():
        raise InputError(f"{flight_dir}: not a folder", "pass a flight folder <out>/<flight_id>")
    manifest_lines = read_lines(flight_dir / MANIFEST_FILE)
    audit_lines = read_lines(flight_dir / AUDIT_FILE)
    if manifest_lines is None and audit_lines is None:
        raise InputError(f"{flight_dir}: no {MANIFEST_FILE} and no {AUDIT_FILE}: not a flight folder",
                         "pass a flight folder <out>/<flight_id>")
    c = _Checker(flight_dir, frozenset(trusted_keys))
    c.device_key(manifest_lines, audit_lines)
    manifest = c.manifest(manifest_lines)
    audit = c.audit(audit_lines)
    closed = c.agreement(manifest, audit)
    c.files(manifest, audit, closed)
    return VerifyReport(flight_dir, c.flight_id, c.fingerprint, closed, tuple(c.findings),
                        tuple(c.notes), c.counts["segment"], c.counts["still"], c.counts["file"])
