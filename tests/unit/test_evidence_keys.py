"""Device and evidence keys: file permissions, passphrases, refusing a private key on the aircraft."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from drone_agent.errors import InputError
from drone_agent.evidence import DeviceKey, EvidenceIdentity, EvidenceRecipient
from drone_agent.evidence.keys import load_trusted_fingerprint, signature_valid


def _input_error(call: Callable[[], object], text: str) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert text in err.value.one_line()


def test_device_key_saved_0600_and_round_trips(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    path = tmp_path / "device-key.pem"
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = DeviceKey.load(path)
    assert loaded.fingerprint == key.fingerprint and loaded.fingerprint.startswith("ed25519:sha256:")
    assert signature_valid(key.public_key_b64, loaded.sign_b64(b"x"), b"x")
    assert not signature_valid(key.public_key_b64, loaded.sign_b64(b"x"), b"y")


def test_device_key_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    DeviceKey.generate().save(path)
    with pytest.raises(FileExistsError):
        DeviceKey.generate().save(path)


def test_passphrase_protected_device_key(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    path = tmp_path / "k.pem"
    key.save(path, passphrase="correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    assert DeviceKey.load(path, passphrase="correct horse").fingerprint == key.fingerprint
    _input_error(lambda: DeviceKey.load(path), "passphrase-protected")
    _input_error(lambda: DeviceKey.load(path, passphrase="wrong"), "check the passphrase")


def test_group_readable_device_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    DeviceKey.generate().save(path)
    os.chmod(path, 0o640)
    _input_error(lambda: DeviceKey.load(path), "chmod 600")


def test_recipient_file_with_private_key_refused(tmp_path: Path) -> None:
    identity = EvidenceIdentity.generate()
    secret = tmp_path / "secret.txt"
    identity.save(secret, "2026-11-24T00:00:00Z")
    with pytest.raises(InputError, match="PRIVATE key"):
        EvidenceRecipient.load(secret)
    public = tmp_path / "recipient.txt"
    public.write_text("# evidence store\n" + identity.recipient.recipient + "\n")
    loaded = EvidenceRecipient.load(public)
    assert loaded == identity.recipient and loaded.fingerprint.startswith("age-x25519:sha256:")
    assert EvidenceIdentity.load(secret).recipient == identity.recipient


def test_bad_recipient_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("age1notavalidkey\n")
    with pytest.raises(InputError, match="not an age X25519 recipient"):
        EvidenceRecipient.load(path)
    with pytest.raises(InputError, match="cannot read"):
        EvidenceRecipient.load(tmp_path / "missing.txt")


def test_trusted_fingerprint_from_pub_file_or_literal(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    pub = tmp_path / "device-key.pub"
    pub.write_text(key.public_pem)
    assert load_trusted_fingerprint(str(pub)) == key.fingerprint
    assert load_trusted_fingerprint(key.fingerprint) == key.fingerprint
    with pytest.raises(InputError):
        load_trusted_fingerprint(str(tmp_path / "nope.pub"))
