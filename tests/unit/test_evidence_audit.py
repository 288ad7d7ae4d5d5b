"""The audit log: chained, signed, re-openable after close, recovers a torn last line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from drone_agent.errors import InputError
from drone_agent.evidence import AuditLog, DeviceKey, EvidenceIdentity, FlightVault, verify_flight
from drone_agent.evidence.records import sha256_hex


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 10, 15, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault(tmp_path: Path, clock: FakeClock) -> FlightVault:
    return FlightVault.create(tmp_path, device_key=DeviceKey.generate(),
                              recipient=EvidenceIdentity.generate().recipient,
                              operation={"name": "Op", "incident_ref": "I-1", "config_sha256": "ab"},
                              clock=clock)


def test_flight_id_and_records_use_injected_utc_clock(vault: FlightVault, clock: FakeClock) -> None:
    assert vault.flight_id.startswith("20261124T101500Z-") and len(vault.flight_id) == 25
    clock.now += timedelta(milliseconds=750)
    record = vault.audit.append("guard_stop", reason="fence margin", state={"alt_agl_m": 95.0})
    assert record["utc"] == "2026-11-24T10:15:00.750Z"
    assert record["event"] == "guard_stop" and record["state"] == {"alt_agl_m": 95.0}


def test_records_are_chained(vault: FlightVault) -> None:
    first = vault.audit.append("arm")
    second = vault.audit.append("takeoff", alt_agl_m=30)
    lines = (vault.flight_dir / "audit.jsonl").read_bytes().splitlines()
    assert second["seq"] == first["seq"] + 1
    assert second["prev_sha256"] == sha256_hex(lines[-2])
    assert json.loads(lines[-1]) == second


@pytest.mark.parametrize("bad", [{"event": "x"}, {"seq": 1}, {"sig": "x"}])
def test_reserved_fields_refused(vault: FlightVault, bad: dict[str, object]) -> None:
    with pytest.raises(InputError, match="reserved"):
        vault.audit.append("guard_warn", **bad)


def test_bad_event_name_and_unserialisable_field_refused(vault: FlightVault) -> None:
    with pytest.raises(InputError, match="snake_case"):
        vault.audit.append("Guard Stop")
    with pytest.raises(InputError, match="cannot be stored"):
        vault.audit.append("guard_warn", value=object())
    with pytest.raises(InputError, match="cannot be stored"):
        vault.audit.append("guard_warn", value=float("nan"))


def test_post_flight_records_after_close_verify(vault: FlightVault) -> None:
    key = vault._key  # the same aircraft's key, loaded by the store package
    vault.seal_segment(b"segment", {"trigger_id": "t"})
    vault.close()
    log = AuditLog.open(vault.flight_dir, key)
    log.append("upload", store="s3://evidence/x", sha256_confirmed=True)
    log.append("local_delete", files=["segments/000001.mp4.age"], reason="store confirmed hash")
    (vault.flight_dir / "segments/000001.mp4.age").unlink()
    report = verify_flight(vault.flight_dir)
    assert report.complete, report.problems
    assert any("deleted locally after upload" in n for n in report.notes)


def test_in_flight_event_after_close_is_tampering(vault: FlightVault) -> None:
    key = vault._key
    vault.close()
    log = AuditLog.open(vault.flight_dir, key)
    with pytest.raises(InputError, match="written by the flight vault"):
        log.append("segment_sealed", file="segments/000009.mp4.age", manifest_seq=9)
    log.record_vault_event("segment_sealed", file="segments/000009.mp4.age", manifest_seq=9)  # forged
    report = verify_flight(vault.flight_dir)
    assert not report.intact
    assert any("segment_sealed after flight_closed" in p for p in report.problems)


def test_reopen_with_another_device_key_refused(vault: FlightVault) -> None:
    vault.close()
    with pytest.raises(InputError, match="signed by device key"):
        AuditLog.open(vault.flight_dir, DeviceKey.generate())


def test_two_writers_stay_chained(vault: FlightVault) -> None:
    other = AuditLog.open(vault.flight_dir, vault._key)
    vault.audit.append("guard_warn", n=1)
    other.append("link_lost", n=2)
    vault.audit.append("link_restored", n=3)
    report = verify_flight(vault.flight_dir)
    assert report.intact, report.problems


def test_torn_last_line_is_incomplete_then_recovered(vault: FlightVault) -> None:
    path = vault.flight_dir / "audit.jsonl"
    vault.audit.append("guard_warn", reason="x")
    with path.open("ab") as fh:  # a power cut in the middle of a write
        fh.write(b'{"event":"guard_st')
    report = verify_flight(vault.flight_dir)
    assert report.intact and not report.complete
    assert any("torn last record" in p for p in report.problems)
    AuditLog.open(vault.flight_dir, vault._key).append("agent_start", note="restarted")
    vault.close()
    report = verify_flight(vault.flight_dir)
    assert report.complete, report.problems
    assert any("recovered" in n for n in report.notes)


def test_garbage_line_in_the_middle_is_tampering(vault: FlightVault) -> None:
    path = vault.flight_dir / "audit.jsonl"
    with path.open("ab") as fh:
        fh.write(b"not json\n")
    vault.audit.append("guard_warn")
    vault.close()
    report = verify_flight(vault.flight_dir)
    assert any("audit.jsonl line 2" in p and "not valid JSON" in p for p in report.problems)
