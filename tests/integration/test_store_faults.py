"""Fault injection: the connection to the store is cut, or the store is SIGKILLed, at random byte
counts during upload; then the network comes back / the store restarts and the upload is re-run.

Every trial must end with every file in the store exactly once (one version, the same SHA-256 and
size as the local file), no multipart upload left behind, and the local copy deleted only if (and
only after) the run that deleted it had verified everything. Loopback only: a CutProxy sits between
the uploader and one embedded SeaweedFS, which is restarted only in the kill trials.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drone_agent.errors import EnvironmentFault
from drone_agent.store import EmbeddedStore, Retry, StateDir, StoreConfig, Uploader, make_client
from drone_agent.cutproxy import CutProxy
from drone_agent.store.testing import JsonlAudit, accept_all, make_flight, summary_for

pytestmark = pytest.mark.slow
TRIALS = 50
KILL_EVERY = 8  # trials 0, 8, 16, ... kill the store instead of cutting the connection
MIB = 1024 * 1024
SEED = int(os.environ.get("STORE_FAULT_SEED", "20261124"))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedStore, CutProxy]]:
    with EmbeddedStore(tmp_path_factory.mktemp("store")) as store, CutProxy(store.s3_port) as proxy:
        yield store, proxy


def _flight_files(rnd: random.Random, trial: int) -> dict[str, bytes]:
    files = {"manifest.jsonl": json.dumps({"trial": trial}).encode() * 20}
    for i in range(rnd.randint(1, 4)):
        files[f"segments/{i + 1:06d}.mp4.age"] = rnd.randbytes(rnd.randint(1, 300_000))
    if rnd.random() < 0.4:  # one file in 3 parts
        files["segments/000009.mp4.age"] = rnd.randbytes(10 * MIB + rnd.randint(1, 1000))
    return files


def _check_store(store: EmbeddedStore, prefix: str, files: dict[str, bytes], flight: Path,
                 deleted: bool) -> None:
    c = store.client()
    resp = c.list_object_versions(Bucket=store.bucket, Prefix=prefix)
    versions: dict[str, list[dict[str, Any]]] = {}
    for v in resp.get("Versions", []):
        versions.setdefault(v["Key"], []).append(v)
    assert not resp.get("DeleteMarkers")
    assert sorted(versions) == sorted(prefix + r for r in [*files, "audit.jsonl"])
    for rel, data in files.items():
        assert len(versions[prefix + rel]) == 1, f"{rel} duplicated"
        body = c.get_object(Bucket=store.bucket, Key=prefix + rel)["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest(), f"{rel} corrupt"
    audits = [c.get_object(Bucket=store.bucket, Key=prefix + "audit.jsonl",
                           VersionId=v["VersionId"])["Body"].read()
              for v in versions[prefix + "audit.jsonl"]]
    assert len(set(audits)) == len(audits), "identical audit log versions"
    latest = c.get_object(Bucket=store.bucket, Key=prefix + "audit.jsonl")["Body"].read()
    events = [json.loads(line)["event"] for line in latest.splitlines()]
    assert events == ["flight_opened", "upload"] + (["local_delete"] if deleted else [])
    if not deleted:
        assert latest == (flight / "audit.jsonl").read_bytes()
    uploads = c.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix)
    assert not uploads.get("Uploads"), "multipart upload left behind"


def _local_intact(flight: Path, files: dict[str, bytes]) -> bool:
    return all((flight / rel).is_file() and (flight / rel).read_bytes() == data
               for rel, data in files.items())


@pytest.mark.timeout(300)
def test_cut_or_kill_at_random_points_then_resume(
    rig: tuple[EmbeddedStore, CutProxy], tmp_path: Path
) -> None:
    store, proxy = rig
    rnd = random.Random(SEED)
    started = time.monotonic()
    outcomes = {"cut": 0, "kill": 0, "no fault hit": 0}
    for trial in range(TRIALS):
        files = _flight_files(rnd, trial)
        flight_id = f"20261124T1015{trial:02d}Z-{trial:08x}"
        flight = make_flight(tmp_path / "out", flight_id, files)
        delete = rnd.random() < 0.7
        cfg = StoreConfig(
            bucket=store.bucket, name="faulty", endpoint=proxy.endpoint_url, region=store.region,
            aws_profile=store.profile_name, credentials_file=store.credentials_file,
            prefix=f"trial{trial:02d}", multipart_threshold_mib=5, part_size_mib=5,
            part_concurrency=rnd.choice((1, 2)),
            delete_local="after_verified" if delete else "keep")
        traffic = sum(len(d) for d in files.values()) + 40_000
        kill = trial % KILL_EVERY == 0
        proxy.cut_after(rnd.randint(0, int(traffic * 1.1)), store.kill if kill else None)

        def uploader() -> Uploader:
            return Uploader(cfg, make_client(cfg, connect_timeout_s=2, read_timeout_s=10),
                            StateDir(tmp_path / "state"), verify=accept_all,
                            audit_for=JsonlAudit(), summarize=summary_for,
                            retry=Retry(attempts=2, base_delay_s=0.01))

        try:
            first = uploader().upload_flight(flight)
        except EnvironmentFault:
            outcomes["kill" if kill else "cut"] += 1
            assert _local_intact(flight, files), f"trial {trial}: local copy touched before verify"
            assert StateDir(tmp_path / "state").load(flight_id).status != "deleted"  # type: ignore[union-attr]
        else:
            outcomes["no fault hit"] += 1
            assert first.deleted_local == delete
        proxy.heal()
        if not store.running:
            store.start()
        result = uploader().upload_flight(flight)
        assert result.status == ("deleted" if delete else "uploaded"), f"trial {trial}"
        assert flight.exists() != delete
        if not delete:
            assert _local_intact(flight, files)
        _check_store(store, f"{cfg.prefix}/op-kestrel/{flight_id}/", files, flight, delete)
    elapsed = time.monotonic() - started
    print(f"store fault trials: {TRIALS} in {elapsed:.1f} s, {outcomes}")
    assert outcomes["cut"] + outcomes["kill"] >= TRIALS // 2  # most trials really were interrupted
    assert outcomes["kill"] >= 1
