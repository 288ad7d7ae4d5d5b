"""Interoperability: the standard ``age`` CLI (Debian package, Go) decrypts what drone-agent seals."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, agefile, read_flight_summary
from drone_agent.evidence.agefile import CHUNK_BYTES


@pytest.fixture(scope="module")
def age_cli() -> str:
    found = shutil.which("age")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("the 'age' CLI is not on PATH and installing Debian's 'age' package needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "age"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"could not install Debian's 'age' package: {' '.join(cmd)}: {exc}")
        if done.returncode != 0:
            pytest.skip(f"could not install Debian's 'age' package: {' '.join(cmd)} exited "
                        f"{done.returncode}: {done.stderr.strip()[-300:]}")
    found = shutil.which("age")
    if not found:
        pytest.skip("apt-get installed 'age' but no 'age' binary is on PATH")
    return found


@pytest.mark.slow
def test_age_cli_decrypts_sealed_segment_to_the_exact_plaintext(age_cli: str, tmp_path: Path) -> None:
    identity = EvidenceIdentity.generate()
    key_file = tmp_path / "evidence-private-key.txt"
    identity.save(key_file, "2026-11-24T00:00:00Z")
    plaintext = os.urandom(300_000) + b"end of segment"
    with FlightVault.create(tmp_path / "out", device_key=DeviceKey.generate(), recipient=identity.recipient,
                            operation={"name": "interop"}) as vault:
        vault.seal_segment(plaintext, {"trigger_id": "t1"})
        vault.seal_still(b"\xff\xd8still\xff\xd9", {"trigger_id": "t1"})
    summary = read_flight_summary(vault.flight_dir)
    for media, original in ((summary.segments[0], plaintext), (summary.stills[0], b"\xff\xd8still\xff\xd9")):
        out = tmp_path / f"{media.kind}.plain"
        subprocess.run([age_cli, "-d", "-i", str(key_file), "-o", str(out), str(vault.flight_dir / media.file)],
                       check=True, capture_output=True, timeout=60)
        assert hashlib.sha256(out.read_bytes()).hexdigest() == media.plaintext_sha256
        assert out.read_bytes() == original


@pytest.mark.slow
def test_age_cli_rejects_a_truncated_segment(age_cli: str, tmp_path: Path) -> None:
    identity = EvidenceIdentity.generate()
    key_file = tmp_path / "key.txt"
    identity.save(key_file, "2026-11-24T00:00:00Z")
    with FlightVault.create(tmp_path / "out", device_key=DeviceKey.generate(), recipient=identity.recipient,
                            operation={"name": "interop"}) as vault:
        vault.seal_segment(os.urandom(200_000), {})
    sealed = vault.flight_dir / "segments/000001.mp4.age"
    sealed.write_bytes(sealed.read_bytes()[:-70_000])
    done = subprocess.run([age_cli, "-d", "-i", str(key_file), str(sealed)], capture_output=True, timeout=60)
    assert done.returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES - 1])
def test_age_cli_decrypts_the_writer_at_chunk_boundaries(age_cli: str, tmp_path: Path, size: int) -> None:
    identity = EvidenceIdentity.generate()
    key_file = tmp_path / "key.txt"
    identity.save(key_file, "2026-12-04T00:00:00Z")
    plaintext = os.urandom(size)
    sealed = tmp_path / "file.age"
    with sealed.open("wb") as fh:
        agefile.encrypt(plaintext, identity.recipient.public_key, fh.write)
    done = subprocess.run([age_cli, "-d", "-i", str(key_file), str(sealed)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == plaintext
