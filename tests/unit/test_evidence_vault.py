"""FlightVault: sealing round trip, hashes, summary, closing rules, decrypt and exhibit summary."""

from __future__ import annotations

import errno
import hashlib
import io
from pathlib import Path

import pyrage
import pytest

from drone_agent.errors import EnvironmentFault, InputError, IntegrityError
from drone_agent.evidence import (
    DeviceKey, EvidenceIdentity, FlightVault, read_flight_summary, verify_flight,
)
from drone_agent.evidence import vault as vault_module
from drone_agent.evidence.decrypt import decrypt_flight

META = {"start_utc": "2026-11-24T10:15:00.000Z", "end_utc": "2026-11-24T10:15:10.000Z", "frame_count": 250,
        "trigger_id": "trg-1", "masked_zones": ["School"], "full_frame_masked": False}


@pytest.fixture
def ident() -> EvidenceIdentity:
    return EvidenceIdentity.generate()


@pytest.fixture
def vault(tmp_path: Path, ident: EvidenceIdentity) -> FlightVault:
    return FlightVault.create(tmp_path / "flights", device_key=DeviceKey.generate(), recipient=ident.recipient,
                              operation={"name": "Op Heron", "incident_ref": "INC-42", "config_sha256": "c" * 64,
                                         "operator": "PC 1234 Smith"})


def test_sealed_segment_decrypts_to_plaintext_and_record_carries_hashes(vault: FlightVault,
                                                                        ident: EvidenceIdentity) -> None:
    plaintext = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100
    record = vault.seal_segment(plaintext, META)
    sealed = vault.flight_dir / record["file"]
    assert record["file"] == "segments/000001.mp4.age" and record["index"] == 1
    assert sealed.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert plaintext not in sealed.read_bytes()
    assert record["plaintext_sha256"] == hashlib.sha256(plaintext).hexdigest()
    assert record["ciphertext_sha256"] == hashlib.sha256(sealed.read_bytes()).hexdigest()
    assert record["meta"] == META
    out = io.BytesIO()
    pyrage.decrypt_io(io.BytesIO(sealed.read_bytes()), out, [ident.age])
    assert out.getvalue() == plaintext
    sealed_event = (vault.flight_dir / "audit.jsonl").read_text().splitlines()[-1]
    assert '"event":"segment_sealed"' in sealed_event and record["ciphertext_sha256"] in sealed_event


def test_no_plaintext_file_is_ever_written(vault: FlightVault) -> None:
    marker = b"PLAINTEXT-MARKER-" * 1000
    vault.seal_segment(marker, META)
    vault.seal_still(marker, META)
    vault.close()
    for path in vault.flight_dir.rglob("*"):
        if path.is_file():
            assert b"PLAINTEXT-MARKER" not in path.read_bytes(), path


def test_summary_lists_segments_stills_and_files(vault: FlightVault) -> None:
    vault.seal_segment(b"one", META)
    vault.seal_segment(b"two", META)
    vault.seal_still(b"jpeg", {"trigger_id": "trg-1"})
    (vault.flight_dir / "telemetry.tlog").write_bytes(b"\xfd" * 64)
    vault.attach_file(vault.flight_dir / "telemetry.tlog")
    open_summary = read_flight_summary(vault.flight_dir)
    assert open_summary.ended_utc is None and not open_summary.closed
    vault.close()
    summary = read_flight_summary(vault.flight_dir)
    assert summary.flight_id == vault.flight_id and summary.operation_name == "Op Heron"
    assert summary.incident_ref == "INC-42" and summary.closed
    assert [s.index for s in summary.segments] == [1, 2] and summary.segments[0].frame_count == 250
    assert [s.file for s in summary.stills] == ["stills/000001.jpg.age"]
    paths = {f.path: f for f in summary.files}
    assert set(paths) == {"manifest.jsonl", "audit.jsonl", "segments/000001.mp4.age",
                          "segments/000002.mp4.age", "stills/000001.jpg.age", "telemetry.tlog"}
    assert paths["telemetry.tlog"].sha256 == hashlib.sha256(b"\xfd" * 64).hexdigest()


def test_closed_vault_refuses_more_and_close_is_idempotent(vault: FlightVault) -> None:
    vault.close()
    vault.close()
    with pytest.raises(InputError, match="closed"):
        vault.seal_segment(b"late", META)
    with pytest.raises(InputError, match="closed"):
        vault.attach_file("telemetry.tlog")


def test_attach_file_outside_flight_or_managed_refused(vault: FlightVault, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the flight folder"):
        vault.attach_file(tmp_path / "elsewhere.tlog")
    with pytest.raises(InputError, match="managed by the vault"):
        vault.attach_file("audit.jsonl")


def test_attached_file_missing_at_close_is_recorded_not_fatal(vault: FlightVault) -> None:
    vault.attach_file("telemetry.tlog")
    vault.close()
    report = verify_flight(vault.flight_dir)
    assert report.complete and any("missing when the flight closed" in n for n in report.notes)


def test_attached_file_changed_after_close_is_tampering(vault: FlightVault) -> None:
    (vault.flight_dir / "telemetry.tlog").write_bytes(b"original")
    vault.attach_file("telemetry.tlog")
    vault.close()
    (vault.flight_dir / "telemetry.tlog").write_bytes(b"edited!!")
    report = verify_flight(vault.flight_dir)
    assert any(p.startswith("TAMPERED: telemetry.tlog: altered") for p in report.problems)


def test_crash_states_are_incomplete_not_tampered(vault: FlightVault) -> None:
    vault.seal_segment(b"kept", META)
    # a crash after step 1 of the next seal: the sealed file exists, nothing recorded it
    (vault.flight_dir / "segments/000002.mp4.age").write_bytes(b"age-encryption.org/v1\n...")
    (vault.flight_dir / "segments/.000003.mp4.age.1234.tmp").write_bytes(b"partial")
    report = verify_flight(vault.flight_dir)
    assert report.intact and not report.complete
    assert any("segments/000002.mp4.age: sealed but not yet in the manifest" in p for p in report.problems)
    assert any("partial file of an interrupted seal" in n for n in report.notes)


def test_decrypt_writes_media_sums_and_exhibit_summary(vault: FlightVault, ident: EvidenceIdentity,
                                                       tmp_path: Path) -> None:
    vault.audit.append("trigger_start", trigger_id="trg-1", who="PC 1234 Smith", reason="suspect seen")
    vault.seal_segment(b"movie bytes", META)
    vault.seal_still(b"jpeg bytes", {"trigger_id": "trg-1"})
    vault.close()
    result = decrypt_flight(vault.flight_dir, ident, tmp_path / "exhibits")
    assert [p.name for p in result.media] == ["segment-000001.mp4", "still-000001.jpg"]
    assert result.media[0].read_bytes() == b"movie bytes"
    sums = (result.out_dir / "SHA256SUMS").read_text()
    assert f"{hashlib.sha256(b'movie bytes').hexdigest()}  segment-000001.mp4" in sums
    text = result.summary_path.read_text()
    for needle in ("Verification: INTACT", "Op Heron", "INC-42", "PC 1234 Smith", "suspect seen",
                   hashlib.sha256(b"movie bytes").hexdigest(), "trigger trg-1", '"School"'):
        assert needle in text, needle


def test_decrypt_refuses_tampered_and_incomplete_and_wrong_key(vault: FlightVault, ident: EvidenceIdentity,
                                                               tmp_path: Path) -> None:
    vault.seal_segment(b"movie bytes", META)
    with pytest.raises(IntegrityError, match="incomplete but intact"):
        decrypt_flight(vault.flight_dir, ident, tmp_path / "x")
    assert decrypt_flight(vault.flight_dir, ident, tmp_path / "y", allow_incomplete=True).media
    vault.close()
    with pytest.raises(InputError, match="cannot open flight"):
        decrypt_flight(vault.flight_dir, EvidenceIdentity.generate(), tmp_path / "z")
    sealed = vault.flight_dir / "segments/000001.mp4.age"
    sealed.write_bytes(sealed.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match="tampered"):
        decrypt_flight(vault.flight_dir, ident, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_summary_of_malformed_manifest_is_integrity_error(vault: FlightVault) -> None:
    vault.seal_segment(b"x", META)
    path = vault.flight_dir / "manifest.jsonl"
    path.write_text(path.read_text().replace('"index":1', '"index":"one"').replace('"plaintext_sha256"', '"p"'))
    with pytest.raises(IntegrityError, match="malformed record"):
        read_flight_summary(vault.flight_dir)


def _disk_fills_up_at(patch: pytest.MonkeyPatch, fail_at_write: int) -> None:
    """Writes through the evidence sink raise ENOSPC from the ``fail_at_write``-th call on."""
    calls = [0]
    real_write_all = vault_module.write_all

    def fills_up(fd: int, data: bytes) -> None:
        calls[0] += 1
        if calls[0] >= fail_at_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data)

    patch.setattr(vault_module, "write_all", fills_up)


# writes of a seal: header, payload nonce, then one per 64 KiB chunk (4 bytes: 3; 200,000 bytes: 6)
@pytest.mark.parametrize(("size", "fail_at_write"), [(4, 1), (4, 3), (200_000, 6), (200_000, 2)])
def test_disk_full_during_seal_leaves_no_debris_and_next_seal_works(
        vault: FlightVault, monkeypatch: pytest.MonkeyPatch, size: int, fail_at_write: int) -> None:
    with monkeypatch.context() as patch:
        _disk_fills_up_at(patch, fail_at_write)
        with pytest.raises(EnvironmentFault) as err:
            vault.seal_segment(b"x" * size, META)
    assert "No space left" in err.value.message and "free space" in (err.value.hint or "")
    assert list((vault.flight_dir / "segments").iterdir()) == []
    record = vault.seal_segment(b"kept", META)
    assert record["index"] == 1
    vault.close()
    assert verify_flight(vault.flight_dir).complete


@pytest.mark.parametrize(("size", "fail_at_write"), [(4, 1), (200_000, 1), (200_000, 3)])
def test_disk_full_during_decrypt_is_reported_and_leaves_no_exhibit(
        vault: FlightVault, ident: EvidenceIdentity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        size: int, fail_at_write: int) -> None:
    vault.seal_segment(b"y" * size, META)
    vault.close()
    with monkeypatch.context() as patch:
        _disk_fills_up_at(patch, fail_at_write)
        with pytest.raises(EnvironmentFault, match="No space left"):
            decrypt_flight(vault.flight_dir, ident, tmp_path / "out")
    assert list((tmp_path / "out").rglob("*.mp4")) == []
