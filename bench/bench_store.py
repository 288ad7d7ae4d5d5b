"""Benchmark: drone-agent upload (SHA-256 checksums checked by the store, resumable state, read-back
verification, audit record) vs a plain boto3 ``put_object`` of the same bytes to the same embedded
SeaweedFS in the same run. Prints JSON. Target: ratio >= 0.8.

    python3 bench/bench_store.py [--mib-small 8] [--small-files 8] [--mib-large 96] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from drone_agent.store import EmbeddedStore, StateDir, StoreConfig, Uploader, make_client
from drone_agent.store.testing import JsonlAudit, accept_all, make_flight, summary_for

MIB = 1024 * 1024


def _flight_files(small_files: int, mib_small: int, mib_large: int) -> dict[str, bytes]:
    files = {f"segments/{i + 1:06d}.mp4.age": os.urandom(mib_small * MIB) for i in range(small_files)}
    if mib_large:
        files["segments/large.mp4.age"] = os.urandom(mib_large * MIB)
    files["manifest.jsonl"] = os.urandom(4096)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-files", type=int, default=8)
    parser.add_argument("--mib-small", type=int, default=8)
    parser.add_argument("--mib-large", type=int, default=96, help="one multipart file (0: none)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_name:
        tmp = Path(tmp_name)
        files = _flight_files(args.small_files, args.mib_small, args.mib_large)
        total = sum(len(d) for d in files.values())
        with EmbeddedStore(tmp / "store") as store:
            creds = store.credentials()
            plain = boto3.client("s3", endpoint_url=store.endpoint_url, region_name=store.region,
                                 aws_access_key_id=creds.access_key_id,
                                 aws_secret_access_key=creds.secret_access_key)
            plain.put_object(Bucket=store.bucket, Key="warm-up", Body=os.urandom(MIB))
            ours_mb_s, plain_mb_s, parallel_mb_s = [], [], []

            def run_plain(rep: int) -> None:
                source = make_flight(tmp / "plain", f"20261124T1015{rep:02d}Z-plain", files)
                os.sync()  # the flight was written long before landing; not part of the upload
                started = time.monotonic()
                for rel in files:
                    plain.put_object(Bucket=store.bucket, Key=f"plain/{rep}/{rel}",
                                     Body=(source / rel).read_bytes())
                plain_mb_s.append(total / 1e6 / (time.monotonic() - started))
                started = time.monotonic()  # the same puts, 4 at a time (as ours sends small files)
                with ThreadPoolExecutor(max_workers=4) as pool:
                    list(pool.map(lambda rel: plain.put_object(
                        Bucket=store.bucket, Key=f"plain4/{rep}/{rel}",
                        Body=(source / rel).read_bytes()), files))
                parallel_mb_s.append(total / 1e6 / (time.monotonic() - started))

            def run_ours(rep: int) -> None:
                flight = make_flight(tmp / "ours", f"20261124T1015{rep:02d}Z-ours", files)
                cfg = StoreConfig(bucket=store.bucket, name="bench", endpoint=store.endpoint_url,
                                  region=store.region, aws_profile=store.profile_name,
                                  credentials_file=store.credentials_file, prefix=f"ours{rep}")
                uploader = Uploader(cfg, make_client(cfg), StateDir(tmp / "state"),
                                    verify=accept_all, audit_for=JsonlAudit(),
                                    summarize=summary_for)
                os.sync()
                started = time.monotonic()
                result = uploader.upload_flight(flight)
                assert result.files_sent == len(files) + 1
                ours_mb_s.append(total / 1e6 / (time.monotonic() - started))

            for rep in range(args.reps + 1):  # round 0 warms the store up and is not counted
                order = (run_plain, run_ours) if rep % 2 else (run_ours, run_plain)
                for run in order:
                    run(rep)
                if rep == 0:
                    ours_mb_s.clear(), plain_mb_s.clear(), parallel_mb_s.clear()
    ours, base = statistics.median(ours_mb_s), statistics.median(plain_mb_s)
    print(json.dumps({
        "bench": "store_upload",
        "what": "drone-agent upload (SHA-256 checked by the store, per-part SHA-256 for multipart, "
                "state on disk, size+checksum read-back of every object, audit record + audit "
                "upload) vs plain boto3 put_object of the same files, same SeaweedFS, same run",
        "files": len(files),
        "bytes": total,
        "layout": f"{args.small_files} x {args.mib_small} MiB single PUT"
                  + (f" + 1 x {args.mib_large} MiB multipart (16 MiB parts, 4 in parallel)"
                     if args.mib_large else ""),
        "drone_agent_upload_mb_s": round(ours, 1),
        "baseline_plain_boto3_put_mb_s": round(base, 1),
        "ratio": round(ours / base, 3),
        "baseline_plain_boto3_put_4_parallel_mb_s": round(statistics.median(parallel_mb_s), 1),
        "ratio_vs_parallel_baseline": round(ours / statistics.median(parallel_mb_s), 3),
        "note": "drone-agent sends small files 4 at a time and parts 4 at a time; the target "
                "baseline is the plain sequential put loop, the parallel one is for reference",
        "target_ratio": 0.8,
        "runs_drone_agent_mb_s": [round(x, 1) for x in ours_mb_s],
        "runs_plain_mb_s": [round(x, 1) for x in plain_mb_s],
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
    }, indent=2))


if __name__ == "__main__":
    main()
