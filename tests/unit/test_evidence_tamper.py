"""Every tamper case of issue 5 is detected, with a message naming the file, the record and what."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, verify_flight
from drone_agent.evidence.records import encode_line


def _build(out: Path, key: DeviceKey, ident: EvidenceIdentity, snapshot: dict[str, bytes] | None = None) -> Path:
    vault = FlightVault.create(out, device_key=key, recipient=ident.recipient,
                               operation={"name": "Op Tamper", "incident_ref": "INC-1", "config_sha256": "c" * 64})
    vault.audit.append("agent_start", config_sha256="c" * 64)
    vault.audit.append("trigger_start", trigger_id="t1", who="pilot", reason="suspect vehicle")
    for i in range(3):
        vault.seal_segment(bytes([i]) * 20_000 + b"payload", {"trigger_id": "t1", "frame_count": 25,
                                                              "start_utc": f"2026-11-24T10:00:0{i}Z"})
        if i == 1 and snapshot is not None:
            snapshot["manifest"] = (vault.flight_dir / "manifest.jsonl").read_bytes()
    vault.seal_still(b"\xff\xd8jpeg\xff\xd9", {"trigger_id": "t1"})
    vault.audit.append("trigger_stop", trigger_id="t1", who="pilot", reason="vehicle stopped")
    (vault.flight_dir / "telemetry.tlog").write_bytes(b"tlog" * 100)
    vault.attach_file("telemetry.tlog")
    vault.close()
    return vault.flight_dir


@pytest.fixture(scope="module")
def keys() -> tuple[DeviceKey, EvidenceIdentity]:
    return DeviceKey.generate(), EvidenceIdentity.generate()


@pytest.fixture
def flight(tmp_path: Path, keys: tuple[DeviceKey, EvidenceIdentity]) -> Path:
    return _build(tmp_path / "a", *keys)


def _flip_bit(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def _only_tampered(flight: Path, *needles: str) -> list[str]:
    report = verify_flight(flight)
    assert not report.intact and not report.complete
    hits = [p for p in report.problems if p.startswith("TAMPERED") and all(n in p for n in needles)]
    assert hits, f"no finding with {needles} in {report.problems}"
    return report.problems


def test_untouched_flight_is_intact_and_complete(flight: Path) -> None:
    report = verify_flight(flight)
    assert report.intact and report.complete and report.problems == []
    assert (report.segments_verified, report.stills_verified, report.files_verified) == (3, 1, 1)


def test_bit_flipped_in_segment(flight: Path) -> None:
    _flip_bit(flight / "segments/000002.mp4.age", 5000)
    problems = _only_tampered(flight, "segments/000002.mp4.age", "altered or replaced: same size but SHA-256")
    assert len(problems) == 1


@pytest.mark.parametrize("line_index", [0, 1, 2, 3, 4, 5])
def test_bit_flipped_in_manifest_record(flight: Path, line_index: int) -> None:
    path = flight / "manifest.jsonl"
    lines = path.read_bytes().split(b"\n")
    start = sum(len(ln) + 1 for ln in lines[:line_index])
    _flip_bit(path, start + len(lines[line_index]) // 2, 1)
    _only_tampered(flight, f"manifest.jsonl line {line_index + 1}")


def test_any_single_bit_flip_anywhere_in_manifest_or_audit_is_detected(flight: Path) -> None:
    rng = random.Random(5)
    for name in ("manifest.jsonl", "audit.jsonl"):
        path = flight / name
        original = path.read_bytes()
        for _ in range(40):
            offset, bit = rng.randrange(len(original)), rng.randrange(8)
            _flip_bit(path, offset, bit)
            report = verify_flight(flight)
            assert not report.complete, f"{name} byte {offset} bit {bit} went unnoticed"
            path.write_bytes(original)


def test_bit_flipped_in_audit_record(flight: Path) -> None:
    path = flight / "audit.jsonl"
    lines = path.read_bytes().split(b"\n")
    record = json.loads(lines[2])
    assert record["event"] == "trigger_start"
    start = sum(len(ln) + 1 for ln in lines[:2])
    _flip_bit(path, start + lines[2].index(b"suspect"), 0)  # 's' -> 'r': still valid JSON
    problems = _only_tampered(flight, "audit.jsonl line 3 (seq 2)", "signature does not verify")
    assert any("audit.jsonl line 3" in p and "altered" in p for p in problems)


def test_segment_truncated(flight: Path) -> None:
    path = flight / "segments/000003.mp4.age"
    path.write_bytes(path.read_bytes()[:-100])
    _only_tampered(flight, "segments/000003.mp4.age", "truncated")


def test_segment_deleted(flight: Path) -> None:
    (flight / "segments/000001.mp4.age").unlink()
    _only_tampered(flight, "segments/000001.mp4.age", "missing")


def test_segment_duplicated(flight: Path) -> None:
    shutil.copy(flight / "segments/000002.mp4.age", flight / "segments/000004.mp4.age")
    _only_tampered(flight, "segments/000004.mp4.age", "copy of segment 2", "duplicated")


def test_two_segments_swapped(flight: Path) -> None:
    one, two = flight / "segments/000001.mp4.age", flight / "segments/000002.mp4.age"
    data_one, data_two = one.read_bytes(), two.read_bytes()
    one.write_bytes(data_two)
    two.write_bytes(data_one)
    problems = _only_tampered(flight, "segments/000001.mp4.age", "content of segment 2", "swapped")
    assert any("segments/000002.mp4.age" in p and "content of segment 1" in p for p in problems)


def test_segment_from_another_flight_inserted(flight: Path, tmp_path: Path,
                                              keys: tuple[DeviceKey, EvidenceIdentity]) -> None:
    other = _build(tmp_path / "b", *keys)
    shutil.copy(other / "segments/000001.mp4.age", flight / "segments/000004.mp4.age")
    _only_tampered(flight, "segments/000004.mp4.age", "not listed in the manifest", "inserted")


def test_segment_replaced_by_one_from_another_flight(flight: Path, tmp_path: Path,
                                                     keys: tuple[DeviceKey, EvidenceIdentity]) -> None:
    other = _build(tmp_path / "b", *keys)
    shutil.copy(other / "segments/000002.mp4.age", flight / "segments/000002.mp4.age")
    _only_tampered(flight, "segments/000002.mp4.age", "replaced")


def test_manifest_replaced_by_older_signed_one(tmp_path: Path, keys: tuple[DeviceKey, EvidenceIdentity]) -> None:
    snapshot: dict[str, bytes] = {}
    flight = _build(tmp_path / "a", *keys, snapshot=snapshot)
    (flight / "manifest.jsonl").write_bytes(snapshot["manifest"])
    problems = _only_tampered(flight, "audit.jsonl", "segments/000003.mp4.age",
                              "manifest replaced by an older one")
    assert any("records the flight closed" in p and "older one" in p for p in problems)
    assert any(p.startswith("TAMPERED: segments/000003.mp4.age: not listed") for p in problems)


def test_audit_record_removed_from_middle(flight: Path) -> None:
    path = flight / "audit.jsonl"
    lines = path.read_bytes().split(b"\n")
    del lines[3]
    path.write_bytes(b"\n".join(lines))
    _only_tampered(flight, "audit.jsonl line 4 (seq 4)", "record seq 3 missing", "removed")


def test_manifest_signed_by_another_device_key(flight: Path) -> None:
    path = flight / "manifest.jsonl"
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    body = {k: v for k, v in json.loads(lines[-1]).items() if k != "ed25519_b64"}
    intruder = DeviceKey.generate()
    lines[-1] = encode_line({**body, "ed25519_b64": intruder.sign_b64(encode_line(body))})
    path.write_bytes(b"\n".join(lines) + b"\n")
    _only_tampered(flight, "manifest.jsonl", "(signature)", "does not verify with device key")
    body["key_fingerprint"] = intruder.fingerprint
    lines[-1] = encode_line({**body, "ed25519_b64": intruder.sign_b64(encode_line(body))})
    path.write_bytes(b"\n".join(lines) + b"\n")
    _only_tampered(flight, "manifest.jsonl", "signature from another device key")


def test_audit_record_signed_by_another_device_key(flight: Path) -> None:
    path = flight / "audit.jsonl"
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    record = json.loads(lines[1])
    record.pop("sig")
    record["sig"] = DeviceKey.generate().sign_b64(encode_line(record))
    lines[1] = encode_line(record)
    path.write_bytes(b"\n".join(lines) + b"\n")
    _only_tampered(flight, "audit.jsonl line 2 (seq 1)", "signature does not verify")


def test_wholly_re_signed_flight_fails_key_pinning(flight: Path, keys: tuple[DeviceKey, EvidenceIdentity]) -> None:
    assert verify_flight(flight, trusted_keys=[keys[0].fingerprint]).complete
    report = verify_flight(flight, trusted_keys=[DeviceKey.generate().fingerprint])
    assert not report.intact and any("not one of the trusted device keys" in p for p in report.problems)


@pytest.mark.parametrize("name", ["manifest.jsonl", "audit.jsonl"])
def test_any_field_given_a_wrong_type_is_reported_never_crashes(flight: Path, name: str) -> None:
    path = flight / name
    original = path.read_bytes()
    lines = original.rstrip(b"\n").split(b"\n")
    for number, raw in enumerate(lines):
        for field_name in json.loads(raw):
            for wrong in ([1], {"a": 1}, None, "../../../etc/passwd"):
                record = json.loads(raw)
                if record[field_name] == wrong:
                    continue
                record[field_name] = wrong
                mutated = lines[:number] + [json.dumps(record).encode()] + lines[number + 1:]
                path.write_bytes(b"\n".join(mutated) + b"\n")
                report = verify_flight(flight)
                assert not report.intact, f"{name} line {number + 1} {field_name}={wrong!r} unnoticed"
    path.write_bytes(original)


def test_unreadable_manifest_line_is_blamed_alone(flight: Path) -> None:
    path = flight / "manifest.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"X" + lines[2][1:]  # segment 2's record no longer parses
    path.write_bytes(b"\n".join(lines))
    problems = verify_flight(flight).problems
    assert problems[0].startswith("TAMPERED: manifest.jsonl line 3: not valid JSON")
    assert not any("manifest.jsonl line 2" in p for p in problems), problems
    assert any("segments/000002.mp4.age: its manifest record (line 3) is unreadable" in p for p in problems)
    assert not any("older one" in p for p in problems), problems


def test_unreadable_audit_line_is_blamed_alone(flight: Path) -> None:
    path = flight / "audit.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:-1]  # drop the closing brace of seq 3
    path.write_bytes(b"\n".join(lines))
    problems = verify_flight(flight).problems
    assert any(p.startswith("TAMPERED: audit.jsonl line 4: not valid JSON") for p in problems), problems
    assert not any("line 3" in p or "missing" in p for p in problems), problems


def test_audit_log_tail_cut_at_a_line_boundary(flight: Path) -> None:
    path = flight / "audit.jsonl"
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    path.write_bytes(b"\n".join(lines[:-3]) + b"\n")  # drops still_sealed, trigger_stop, flight_closed
    problems = _only_tampered(flight, "audit.jsonl seq", "missing (audit log truncated)")
    assert any("stills/000001.jpg.age" in p and "no still_sealed record" in p for p in problems), problems
