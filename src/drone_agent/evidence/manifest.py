"""The flight manifest: a hash-chained, device-signed list of what the flight produced.

``manifest.jsonl`` holds canonical JSON records, one per line, each with ``seq`` and the SHA-256 of
the previous line (``prev_sha256``), followed by one ``signature`` line: the device key's Ed25519
signature over (flight id, record count, hash of the last record). Record kinds, in order:
``flight_opened`` (seq 0: operation, device key, evidence recipient), then ``segment`` and ``still``
(file, hashes of plaintext and ciphertext, sizes, capture metadata) as they are sealed, ``file``
(attached files such as ``telemetry.tlog``, hashed at close) and finally ``flight_closed``.

The writer rewrites the whole file atomically (temporary file, fsync, rename, fsync directory)
after every record, so a power cut leaves the previous or the new signed manifest, never a torn one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drone_agent.evidence.durable import atomic_write
from drone_agent.evidence.keys import DeviceKey
from drone_agent.evidence.records import GENESIS_SHA256, encode_line, sha256_hex, utc_iso

MANIFEST_FILE = "manifest.jsonl"
FORMAT = "drone-agent-manifest/1"
SIGNATURE_KIND = "signature"


def signature_body(flight_id: str, records: int, head_sha256: str, signed_utc: str,
                   key_fingerprint: str) -> dict[str, Any]:
    return {"kind": SIGNATURE_KIND, "flight_id": flight_id, "records": records,
            "head_sha256": head_sha256, "signed_utc": signed_utc, "key_fingerprint": key_fingerprint}


@dataclass(frozen=True, slots=True)
class Appended:
    record: dict[str, Any]
    sha256: str


class ManifestWriter:
    """Appends records and keeps ``manifest.jsonl`` signed after every append."""

    def __init__(self, path: Path, device_key: DeviceKey, flight_id: str,
                 clock: Callable[[], datetime]) -> None:
        self.path = Path(path)
        self._key = device_key
        self._flight_id = flight_id
        self._clock = clock
        self._lines: list[bytes] = []

    @property
    def head_sha256(self) -> str:
        return sha256_hex(self._lines[-1]) if self._lines else GENESIS_SHA256

    @property
    def next_seq(self) -> int:
        return len(self._lines)

    def append(self, kind: str, fields: Mapping[str, Any]) -> Appended:
        record = {"kind": kind, "seq": self.next_seq, "prev_sha256": self.head_sha256, **fields}
        line = encode_line(record)
        self._lines.append(line)
        body = signature_body(self._flight_id, len(self._lines), sha256_hex(line),
                              utc_iso(self._clock()), self._key.fingerprint)
        signed = {**body, "ed25519_b64": self._key.sign_b64(encode_line(body))}
        try:
            atomic_write(self.path, b"\n".join(self._lines) + b"\n" + encode_line(signed) + b"\n")
        except Exception:
            self._lines.pop()
            raise
        return Appended(record, sha256_hex(line))
