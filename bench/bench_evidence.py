"""Benchmark: evidence sealing throughput vs the raw cipher, and peak memory while sealing.

Prints one JSON object. Baselines are measured in the same run over the same bytes, interleaved
with the measured figures (best of N rounds each, so a busy shared machine penalises all alike):

* ``raw_chacha20poly1305``: cryptography/OpenSSL ChaCha20-Poly1305 over 64 KiB chunks, i.e. age's
  payload cipher and chunking without the format: the baseline of the target (age fixes the cipher);
* ``raw_aes256gcm``: the same with AES-256-GCM (the baseline the issue first named; the ratio
  against it is bounded by ChaCha20-Poly1305 / AES-256-GCM on this CPU);
* ``age_encrypt``: drone-agent's age writer (``evidence.agefile``) into a null sink: the sealing;
* ``pyrage_encrypt``: pyrage streaming encryption of the same bytes, for comparison (the reason the
  writer exists);
* ``seal_segment``: the whole ``FlightVault.seal_segment`` (SHA-256 of plaintext, age encryption,
  SHA-256 of ciphertext, fsync + rename, manifest re-signed, audit record fsynced) on disk;
* ``sha256``: one hashing pass, for reading the seal_segment figure.

Peak memory: a fresh subprocess allocates one segment, resets the kernel's peak-RSS mark
(/proc/self/clear_refs; if that is refused the figure is conservative), seals the segment and
reports peak RSS minus RSS before sealing (the plaintext itself excluded).

    python3 bench/bench_evidence.py [--segment-mib 32] [--segments 4] [--rounds 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyrage
from pyrage import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, agefile

CHUNK = 64 * 1024
TARGET_RATIO = 0.80


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        return None


def _chunked(aead: ChaCha20Poly1305 | AESGCM, data: bytes) -> None:
    view, nonce = memoryview(data), bytes(12)
    for offset in range(0, len(view), CHUNK):
        aead.encrypt(nonce, view[offset:offset + CHUNK], None)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_probe(segment_mib: int) -> dict[str, float]:
    """Run in a fresh process: peak RSS added by sealing one segment of ``segment_mib``."""
    identity = EvidenceIdentity.generate()
    with tempfile.TemporaryDirectory() as tmp:
        vault = FlightVault.create(tmp, device_key=DeviceKey.generate(), recipient=identity.recipient,
                                   operation={"name": "bench"})
        vault.seal_segment(b"warm-up", {})
        data = os.urandom(segment_mib << 20)
        exact = _reset_peak_rss()
        before = _status_mib("VmRSS")
        vault.seal_segment(data, {})
        peak = _status_mib("VmHWM")
        vault.close()
    return {"segment_mib": segment_mib, "rss_before_sealing_mib": round(before, 1),
            "peak_rss_mib": round(peak, 1), "sealing_peak_extra_mib": round(max(0.0, peak - before), 1),
            "peak_reset_exact": exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment-mib", type=int, default=32)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path.cwd(),
                        help="where seal_segment writes (default: the current folder; "
                        "/dev/shm shows the CPU cost alone)")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.segment_mib)))
        return

    segments = [os.urandom(args.segment_mib << 20) for _ in range(args.segments)]
    total_mib = args.segment_mib * args.segments
    identity = EvidenceIdentity.generate()
    recipient = identity.recipient
    pyrage_recipient = x25519.Recipient.from_str(recipient.recipient)
    chacha, aes = ChaCha20Poly1305(os.urandom(32)), AESGCM(os.urandom(32))

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        vault = FlightVault.create(tmp, device_key=DeviceKey.generate(), recipient=recipient,
                                   operation={"name": "bench"})
        methods: dict[str, Callable[[bytes], object]] = {
            "raw_chacha20poly1305": lambda seg: _chunked(chacha, seg),
            "raw_aes256gcm": lambda seg: _chunked(aes, seg),
            "age_encrypt": lambda seg: agefile.encrypt(seg, recipient.public_key, _NullSink().write),
            "pyrage_encrypt": lambda seg: pyrage.encrypt_io(io.BytesIO(seg), _NullSink(), [pyrage_recipient]),
            "seal_segment": lambda seg: vault.seal_segment(seg, {"frame_count": 0}),
            "sha256": lambda seg: hashlib.sha256(seg).digest(),
        }
        best = {name: float("inf") for name in methods}
        for _ in range(args.rounds):
            for name, run in methods.items():
                start = time.perf_counter()
                for seg in segments:
                    run(seg)
                best[name] = min(best[name], time.perf_counter() - start)
        vault.close()

    rate = {name: total_mib / seconds for name, seconds in best.items()}
    raw = rate["raw_chacha20poly1305"]
    probe = subprocess.run([sys.executable, __file__, "--memory-probe", "--segment-mib", str(args.segment_mib)],
                           capture_output=True, text=True, check=True)
    result = {
        "bench": "evidence sealing",
        "seal_dir": str(args.dir), "bytes_per_round_mib": total_mib, "segment_mib": args.segment_mib, "rounds": args.rounds,
        "mib_per_s": {name: round(value, 1) for name, value in rate.items()},
        "age_encrypt_vs_raw_chacha20poly1305": round(rate["age_encrypt"] / raw, 3),
        "age_encrypt_vs_raw_aes256gcm": round(rate["age_encrypt"] / rate["raw_aes256gcm"], 3),
        "pyrage_encrypt_vs_raw_chacha20poly1305": round(rate["pyrage_encrypt"] / raw, 3),
        "seal_segment_vs_raw_chacha20poly1305": round(rate["seal_segment"] / raw, 3),
        "seal_segment_vs_raw_aes256gcm": round(rate["seal_segment"] / rate["raw_aes256gcm"], 3),
        "target_ratio": TARGET_RATIO,
        "target_met_age_encrypt": rate["age_encrypt"] / raw >= TARGET_RATIO,
        "seal_segment_headroom_vs_10_MBps_4k_h264": round(rate["seal_segment"] * 1.048576 / 10, 1),
        "memory": json.loads(probe.stdout),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
