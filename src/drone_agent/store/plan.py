"""What goes where in the store: object keys, tags, and the checksums the store must report back.

Pure functions and frozen records; the only IO is :func:`hash_file`, which reads a file once.

Layout (per-operation prefixes, so access can be granted per operation)::

    <prefix>/<operation-slug>/<flight_id>/<path inside the flight folder>
    <prefix>/<operation-slug>/<flight_id>/_marks/<utc>-<id>.json    who marked it evidential, why
    <prefix>/<operation-slug>/<flight_id>/_access/<utc>-<id>.json   who decrypted it, why

Checksums: a file sent in one PUT is stored with its SHA-256 (``ChecksumSHA256``, checked by the
store on receipt and reported by HEAD). A file sent in parts gets a COMPOSITE checksum: SHA-256 of
the concatenated part digests, suffixed ``-<parts>``; we compute that locally from the part digests,
and keep the whole-file SHA-256 as object metadata (``x-amz-meta-sha256``) for investigators.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

AUDIT_FILE = "audit.jsonl"
STORE_RECORD_DIRS = ("_marks/", "_access/")  # written in the store, not part of the sealed flight
_TAG_VALUE_BAD = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FlightInfo:
    """What the store needs to know about a flight (from the evidence package's summary)."""

    flight_id: str
    operation_name: str
    incident_ref: str
    started_utc: str


@dataclass(frozen=True, slots=True)
class FileDigest:
    """One local file as hashed just before upload."""

    relpath: str
    size_bytes: int
    mtime_ns: int
    sha256_hex: str
    part_size_bytes: int  # 0: single PUT
    part_sha256: tuple[bytes, ...]  # per-part digests when multipart

    @property
    def multipart(self) -> bool:
        return self.part_size_bytes > 0

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()

    @property
    def expected_checksum(self) -> str:
        """The ``ChecksumSHA256`` the store must report for this object."""
        if not self.multipart:
            return self.sha256_b64
        return composite_checksum(self.part_sha256)

    def part_range(self, part_number: int) -> tuple[int, int]:
        """(offset, length) of 1-based ``part_number``."""
        offset = (part_number - 1) * self.part_size_bytes
        return offset, min(self.part_size_bytes, self.size_bytes - offset)


def composite_checksum(part_digests: tuple[bytes, ...]) -> str:
    """S3's COMPOSITE SHA-256: base64(SHA-256(d1 || d2 || ...)) + ``-N``."""
    whole = hashlib.sha256(b"".join(part_digests)).digest()
    return f"{base64.b64encode(whole).decode()}-{len(part_digests)}"


def b64_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def part_size_for(size_bytes: int, threshold_bytes: int, part_size_bytes: int) -> int:
    """0 for a single PUT, else the part size (grown so that no more than 10,000 parts are used)."""
    if size_bytes < threshold_bytes:
        return 0
    size = part_size_bytes
    while -(-size_bytes // size) > 10_000:
        size *= 2
    return size


def hash_file(path: Path, relpath: str, part_size_bytes: int) -> FileDigest:
    """Hash ``path``: whole-file SHA-256 and, when multipart, each part's SHA-256 -- the two on
    separate threads (hashlib releases the GIL), so a large file costs one pass of wall time."""
    stat = path.stat()
    if not part_size_bytes:
        with path.open("rb") as handle:
            whole = hashlib.file_digest(handle, "sha256").hexdigest()
        return FileDigest(relpath, stat.st_size, stat.st_mtime_ns, whole, 0, ())
    result: dict[str, str | BaseException] = {}

    def whole_file() -> None:
        try:
            with path.open("rb") as handle:
                result["sha256"] = hashlib.file_digest(handle, "sha256").hexdigest()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    helper = threading.Thread(target=whole_file, name=f"sha256 {relpath}")
    helper.start()
    parts: list[bytes] = []
    try:
        with path.open("rb") as handle:
            while True:
                part = hashlib.sha256()
                remaining = part_size_bytes
                while remaining and (chunk := handle.read(min(_READ_CHUNK, remaining))):
                    part.update(chunk)
                    remaining -= len(chunk)
                if remaining == part_size_bytes and parts:
                    break  # end of file exactly at a part boundary
                parts.append(part.digest())
                if remaining:
                    break  # short (last) part
    finally:
        helper.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return FileDigest(
        relpath, stat.st_size, stat.st_mtime_ns, str(result["sha256"]), part_size_bytes,
        tuple(parts),
    )


def slug(text: str, fallback: str = "unnamed") -> str:
    """A path-safe lower-case name: letters, digits and single hyphens."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:80] or fallback


def flight_prefix(prefix: str, flight: FlightInfo) -> str:
    """``<prefix>/<operation-slug>/<flight_id>/`` (no leading slash)."""
    parts = [p for p in (prefix, slug(flight.operation_name), flight.flight_id) if p]
    return "/".join(parts) + "/"


def object_key(prefix: str, flight: FlightInfo, relpath: str) -> str:
    return flight_prefix(prefix, flight) + relpath


def tag_value(text: str) -> str:
    """A value S3 accepts as a tag (allowed characters only, at most 256)."""
    return _TAG_VALUE_BAD.sub("_", text)[:256]


def object_tags(flight: FlightInfo, evidential: bool) -> dict[str, str]:
    """The retention tags of every object of a flight."""
    return {
        "capture_utc": tag_value(flight.started_utc),
        "operation": tag_value(flight.operation_name),
        "incident_ref": tag_value(flight.incident_ref),
        "flight_id": tag_value(flight.flight_id),
        "evidential": "yes" if evidential else "no",
    }


def tagging_header(tags: Mapping[str, str]) -> str:
    """The ``x-amz-tagging`` form of ``tags`` (URL-encoded query string)."""
    return urlencode(sorted(tags.items()))


def object_metadata(digest: FileDigest, flight: FlightInfo) -> dict[str, str]:
    """User metadata stored with each object (``x-amz-meta-*``)."""
    meta = {"sha256": digest.sha256_hex, "flight-id": flight.flight_id}
    if digest.multipart:
        meta["part-size"] = str(digest.part_size_bytes)
    return meta


def flight_files(flight_dir: Path) -> list[str]:
    """Every regular file of the flight folder, as POSIX paths relative to it, sorted; the audit log
    last (it is uploaded after the upload has been recorded in it)."""
    files = sorted(
        p.relative_to(flight_dir).as_posix()
        for p in flight_dir.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    if AUDIT_FILE in files:
        files.remove(AUDIT_FILE)
        files.append(AUDIT_FILE)
    return files
