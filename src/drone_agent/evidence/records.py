"""Canonical record encoding shared by the manifest and the audit log (pure, no IO).

A record is a JSON object written as exactly one line of canonical JSON: keys sorted, no
insignificant whitespace, UTF-8, no NaN. The SHA-256 of that line (without its newline) is the
record's hash, which the next record carries as ``prev_sha256``. Because the hash is taken over the
bytes as stored, flipping any bit of a stored line changes its hash (or makes it unparseable).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from drone_agent.errors import InputError

GENESIS_SHA256 = "0" * 64
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with millisecond precision and a ``Z`` suffix."""
    if moment.tzinfo is None:
        raise InputError(f"timestamp {moment!r} has no time zone", "pass an aware UTC datetime")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_line(record: Mapping[str, Any]) -> bytes:
    """The canonical one-line encoding of ``record`` (no trailing newline)."""
    try:
        text = json.dumps(
            record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
            allow_nan=False, default=_jsonable,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"evidence record field cannot be stored: {exc}",
            "pass str, int, float, bool, None, lists, dicts, datetimes or paths",
        ) from exc
    return text.encode("utf-8")


def decode_line(line: bytes) -> dict[str, Any]:
    """Parse one stored line; ValueError if it is not a JSON object."""
    value = json.loads(line.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
