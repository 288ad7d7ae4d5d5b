"""Crash test: a recorder process sealing segments is killed with SIGKILL at random instants.

After every kill: the flight verifies as incomplete-but-intact (never tampered), every segment the
recorder had acknowledged is in the signed manifest and decrypts to exactly its plaintext, and at
most the segment being sealed when the kill landed is missing.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import time
from pathlib import Path

import pyrage

from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, read_flight_summary, verify_flight

TRIALS = 24


def _payload(index: int) -> bytes:
    size = 1_000 + (index * 7919) % 60_000
    block = hashlib.sha256(index.to_bytes(4, "big")).digest()
    return (block * (size // len(block) + 1))[:size]


def _record_forever(out: Path, key: DeviceKey, ident: EvidenceIdentity, wfd: int) -> None:
    vault = FlightVault.create(out, device_key=key, recipient=ident.recipient,
                               operation={"name": "crash", "incident_ref": "INC-9", "config_sha256": "0" * 64})
    os.write(wfd, f"F {vault.flight_dir.name}\n".encode())
    index = 0
    while True:
        index += 1
        vault.seal_segment(_payload(index), {"trigger_id": "t", "frame_count": index})
        os.write(wfd, f"S {index}\n".encode())
        if index % 3 == 0:
            vault.audit.append("guard_warn", reason="margin", margin_m=12.5)
        if index % 4 == 0:
            vault.seal_still(_payload(1000 + index), {"trigger_id": "t"})


def _run_and_kill(out: Path, key: DeviceKey, ident: EvidenceIdentity, delay_s: float) -> tuple[str, int]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the recorder
        os.close(rfd)
        try:
            _record_forever(out, key, ident, wfd)
        finally:
            os._exit(3)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        first = pipe.readline().split()
        time.sleep(delay_s)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        acked = [int(line.split()[1]) for line in pipe.read().splitlines() if line.startswith(b"S ")]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "recorder died by itself"
    return first[1].decode(), max(acked, default=0)


def test_sigkill_at_random_instants_loses_at_most_the_open_segment(tmp_path: Path) -> None:
    key, ident = DeviceKey.generate(), EvidenceIdentity.generate()
    rng = random.Random(20261124)
    killed_mid_seal = 0
    for trial in range(TRIALS):
        out = tmp_path / f"t{trial}"
        flight_id, acked = _run_and_kill(out, key, ident, rng.uniform(0.0, 0.06))
        flight = out / flight_id
        report = verify_flight(flight)
        assert report.intact, f"trial {trial}: crash reported as tampering: {report.problems}"
        assert not report.complete and not report.closed
        assert all(p.startswith("INCOMPLETE") for p in report.problems)
        segments = read_flight_summary(flight).segments
        assert acked <= len(segments) <= acked + 1, f"trial {trial}: acked {acked}, manifest {len(segments)}"
        assert report.segments_verified == len(segments)
        for seg in segments:
            plain = io.BytesIO()
            with (flight / seg.file).open("rb") as fh:
                pyrage.decrypt_io(fh, plain, [ident.age])
            assert plain.getvalue() == _payload(seg.index)
            assert hashlib.sha256(plain.getvalue()).hexdigest() == seg.plaintext_sha256
        on_disk = sorted(p.name for p in (flight / "segments").iterdir() if not p.name.startswith("."))
        assert len(on_disk) <= len(segments) + 1  # at most the open segment, sealed but unrecorded
        killed_mid_seal += bool(report.notes) or len(on_disk) > len(segments) or len(segments) > acked
    assert killed_mid_seal > 0, "no kill landed inside a seal: the test exercised nothing"


def _count_or_die(limit: int | None, counter: list[int]) -> None:
    """Wrap the durable syscalls: the process dies (like a power cut) before call number ``limit``."""
    for name in ("write", "fsync", "replace", "rename"):
        real = getattr(os, name)

        def wrapped(*args: object, _real=real) -> object:  # type: ignore[no-untyped-def]
            counter[0] += 1
            if counter[0] == limit:
                os._exit(9)
            return _real(*args)

        setattr(os, name, wrapped)


def _seal_third_and_close(out: Path, key: DeviceKey, ident: EvidenceIdentity, limit: int | None, wfd: int) -> None:
    vault = FlightVault.create(out, device_key=key, recipient=ident.recipient, operation={"name": "steps"})
    vault.seal_segment(_payload(1), {})
    vault.seal_segment(_payload(2), {})
    os.write(wfd, f"{vault.flight_dir.name}\n".encode())
    counter = [0]
    _count_or_die(limit, counter)
    vault.seal_segment(_payload(3), {})
    vault.seal_still(_payload(4), {})
    (vault.flight_dir / "telemetry.tlog").write_bytes(b"tlog")
    vault.attach_file("telemetry.tlog")
    vault.close()
    os._exit(min(counter[0], 200))  # the number of steps, reported through the exit status


def _fork(out: Path, key: DeviceKey, ident: EvidenceIdentity, limit: int | None) -> tuple[Path, int]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            _seal_third_and_close(out, key, ident, limit, wfd)
        finally:
            os._exit(3)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        name = pipe.readline().strip().decode()
    _, status = os.waitpid(pid, 0)
    return out / name, os.WEXITSTATUS(status)


def test_power_cut_before_every_durable_step_of_a_seal_and_close(tmp_path: Path) -> None:
    key, ident = DeviceKey.generate(), EvidenceIdentity.generate()
    flight, steps = _fork(tmp_path / "dry", key, ident, None)
    assert verify_flight(flight).complete and 10 < steps < 200
    for limit in range(1, steps + 1):
        flight, status = _fork(tmp_path / f"cut{limit}", key, ident, limit)
        assert status == 9
        report = verify_flight(flight)
        assert report.intact, f"cut before step {limit} of {steps}: {report.problems}"
        assert all(p.startswith("INCOMPLETE") for p in report.problems)
        assert report.segments_verified >= 2
        assert report.complete == (limit == steps)  # only the final fsync follows the last write
