"""The store's pure core: keys, tags, checksums the store must report back."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from drone_agent.store import plan
from drone_agent.store.plan import FlightInfo

FLIGHT = FlightInfo("20261124T101500Z-3f9a1c2b", "Op Kestrel / North", "KP/2026/1234", "2026-11-24T10:15:00Z")


def test_composite_checksum_is_sha256_of_part_digests_with_count() -> None:
    parts = (hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest())
    whole = hashlib.sha256(parts[0] + parts[1]).digest()
    assert plan.composite_checksum(parts) == base64.b64encode(whole).decode() + "-2"


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 5])
def test_hash_file_parts_match_slices(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest = plan.hash_file(path, "f.bin", 4096)
    assert digest.sha256_hex == hashlib.sha256(data).hexdigest()
    expected = [hashlib.sha256(data[i : i + 4096]).digest() for i in range(0, max(size, 1), 4096)]
    assert list(digest.part_sha256) == expected
    for n in range(1, len(expected) + 1):
        offset, length = digest.part_range(n)
        assert hashlib.sha256(data[offset : offset + length]).digest() == expected[n - 1]
    assert digest.expected_checksum == plan.composite_checksum(tuple(expected))


def test_single_put_checksum_is_plain_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    digest = plan.hash_file(path, "f.bin", 0)
    assert not digest.multipart and digest.part_sha256 == ()
    assert digest.expected_checksum == plan.b64_digest(b"hello")


def test_part_size_for_threshold_and_part_limit() -> None:
    mib = 1024 * 1024
    assert plan.part_size_for(10 * mib, 64 * mib, 16 * mib) == 0
    assert plan.part_size_for(64 * mib, 64 * mib, 16 * mib) == 16 * mib
    big = 16 * mib * 10_001
    size = plan.part_size_for(big, 64 * mib, 16 * mib)
    assert size == 32 * mib and -(-big // size) <= 10_000


def test_keys_are_per_operation_and_flight() -> None:
    assert plan.flight_prefix("kent/drones", FLIGHT) == "kent/drones/op-kestrel-north/20261124T101500Z-3f9a1c2b/"
    assert plan.object_key("", FLIGHT, "segments/000001.mp4.age") == (
        "op-kestrel-north/20261124T101500Z-3f9a1c2b/segments/000001.mp4.age"
    )
    assert plan.slug("!!!") == "unnamed"


def test_tags_are_s3_safe_and_complete() -> None:
    odd = FlightInfo("f1", "Op <Kestrel> & \"co\"", "KP#2026?1", "2026-11-24T10:15:00Z")
    tags = plan.object_tags(odd, evidential=False)
    assert set(tags) == {"capture_utc", "operation", "incident_ref", "flight_id", "evidential"}
    assert tags["evidential"] == "no" and plan.object_tags(odd, evidential=True)["evidential"] == "yes"
    assert tags["operation"] == "Op _Kestrel_ _ _co_" and tags["incident_ref"] == "KP_2026_1"
    assert dict(parse_qsl(plan.tagging_header(tags))) == tags
    assert len(plan.tag_value("x" * 400)) == 256


def test_flight_files_lists_everything_with_audit_last(tmp_path: Path) -> None:
    for rel in ("audit.jsonl", "manifest.jsonl", "segments/000001.mp4.age", "telemetry.tlog"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert plan.flight_files(tmp_path) == [
        "manifest.jsonl", "segments/000001.mp4.age", "telemetry.tlog", "audit.jsonl"
    ]


def test_metadata_carries_whole_file_hash_and_part_size(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"y" * 10)
    meta = plan.object_metadata(plan.hash_file(path, "f", 4), FLIGHT)
    assert meta == {"sha256": hashlib.sha256(b"y" * 10).hexdigest(), "flight-id": FLIGHT.flight_id,
                    "part-size": "4"}
