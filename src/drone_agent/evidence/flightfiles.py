"""Reading a flight folder's record files (pure parsing over bytes read once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_agent.evidence.records import decode_line, sha256_hex


@dataclass(frozen=True, slots=True)
class Line:
    """One stored line: 1-based line number, raw bytes, parsed record or the parse error."""

    number: int
    raw: bytes
    record: dict[str, Any] | None
    error: str | None
    terminated: bool

    @property
    def sha256(self) -> str:
        return sha256_hex(self.raw)

    def where(self, file_name: str) -> str:
        seq = self.record.get("seq") if self.record else None
        return f"{file_name} line {self.number}" + (f" (seq {seq})" if seq is not None else "")


def split_lines(data: bytes) -> list[Line]:
    """Every line of a JSON-lines file; the last one is ``terminated=False`` if torn."""
    parts = data.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline
    lines = [(raw, True) for raw in parts]
    if tail:
        lines.append((tail, False))
    out = []
    for number, (raw, terminated) in enumerate(lines, start=1):
        try:
            out.append(Line(number, raw, decode_line(raw), None, terminated))
        except (ValueError, UnicodeDecodeError) as exc:
            out.append(Line(number, raw, None, f"not valid JSON ({exc})", terminated))
    return out


def read_lines(path: Path) -> list[Line] | None:
    """The lines of ``path``, or None if it does not exist."""
    try:
        return split_lines(path.read_bytes())
    except FileNotFoundError:
        return None
