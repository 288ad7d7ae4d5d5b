"""Upload against a real SeaweedFS on loopback: verify, re-run is a no-op, delete only after
read-back, resume after a cut, and the one-line errors (credentials, bucket, unreachable, disk)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from drone_agent.cli import main
from drone_agent.errors import EnvironmentFault, IntegrityError
from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault, verify_flight
from drone_agent.store import (
    EmbeddedStore, Retry, StateDir, StoreConfig, Uploader, enqueue_flight, init_bucket,
    make_client, mark_evidential,
)
from drone_agent.store import state as state_mod
from drone_agent.cutproxy import CutProxy
from drone_agent.store.testing import JsonlAudit, accept_all, make_flight, summary_for
from drone_agent.store.testing import FakeReport

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
FAST = Retry(attempts=2, base_delay_s=0.01)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    with EmbeddedStore(tmp_path_factory.mktemp("store")) as running:
        yield running


def _cfg(store: EmbeddedStore, prefix: str, **kw: Any) -> StoreConfig:
    values: dict[str, Any] = dict(
        bucket=store.bucket, name="embedded", endpoint=store.endpoint_url, region=store.region,
        aws_profile=store.profile_name, credentials_file=store.credentials_file, prefix=prefix,
        multipart_threshold_mib=5, part_size_mib=5, part_concurrency=2)
    values.update(kw)
    return StoreConfig(**values)


def _uploader(cfg: StoreConfig, tmp_path: Path, client: Any = None, **kw: Any) -> Uploader:
    kw.setdefault("verify", accept_all)
    return Uploader(cfg, client or make_client(cfg), StateDir(tmp_path / "state"),
                    audit_for=JsonlAudit(), summarize=summary_for, retry=FAST, **kw)


def _files(seed: int) -> dict[str, bytes]:
    rnd = hashlib.sha256(str(seed).encode()).digest()
    return {
        "manifest.jsonl": rnd * 10,
        "segments/000001.mp4.age": os.urandom(11 * MIB + 123),  # 3 parts of 5 MiB
        "segments/000002.mp4.age": os.urandom(70_000),
        "telemetry.tlog": b"",
    }


def _versions(store: EmbeddedStore, prefix: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    resp = store.client().list_object_versions(Bucket=store.bucket, Prefix=prefix)
    for v in resp.get("Versions", []):
        out.setdefault(v["Key"], []).append(v)
    return out


def _object(store: EmbeddedStore, key: str) -> bytes:
    return store.client().get_object(Bucket=store.bucket, Key=key)["Body"].read()


def test_credentials_are_private_and_anonymous_access_is_denied(store: EmbeddedStore) -> None:
    for path in (store.credentials_file, store.identities_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    anon = boto3.client("s3", endpoint_url=store.endpoint_url, region_name="eu-west-2",
                        config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as exc:
        anon.put_object(Bucket=store.bucket, Key="anon", Body=b"x")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_upload_verifies_and_rerun_uploads_nothing(store: EmbeddedStore, tmp_path: Path) -> None:
    files = _files(1)
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000001", files)
    cfg = _cfg(store, "t1")
    result = _uploader(cfg, tmp_path).upload_flight(flight)
    assert result.status == "uploaded" and not result.deleted_local
    assert result.files_total == result.files_sent == 5
    prefix = "t1/op-kestrel/20261124T101500Z-00000001/"
    versions = _versions(store, prefix)
    assert sorted(versions) == sorted(prefix + r for r in [*files, "audit.jsonl"])
    assert all(len(v) == 1 for v in versions.values())
    c = store.client()
    for rel, data in files.items():
        assert _object(store, prefix + rel) == data
        head = c.head_object(Bucket=store.bucket, Key=prefix + rel, ChecksumMode="ENABLED")
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        tags = {t["Key"]: t["Value"] for t in c.get_object_tagging(
            Bucket=store.bucket, Key=prefix + rel)["TagSet"]}
        assert tags == {"capture_utc": "2026-11-24T10:15:00Z", "operation": "Op Kestrel",
                        "incident_ref": "KP/2026/1234", "flight_id": flight.name, "evidential": "no"}
    big = c.head_object(Bucket=store.bucket, Key=prefix + "segments/000001.mp4.age",
                        ChecksumMode="ENABLED")
    assert big["ChecksumSHA256"].endswith("-3")
    small = c.head_object(Bucket=store.bucket, Key=prefix + "segments/000002.mp4.age",
                          ChecksumMode="ENABLED")
    assert small["ChecksumSHA256"] == base64.b64encode(
        hashlib.sha256(files["segments/000002.mp4.age"]).digest()).decode()
    events = JsonlAudit.events(flight)
    assert [e["event"] for e in events] == ["flight_opened", "upload"]
    assert _object(store, prefix + "audit.jsonl") == (flight / "audit.jsonl").read_bytes()
    assert all((flight / rel).read_bytes() == data for rel, data in files.items())

    again = _uploader(cfg, tmp_path).upload_flight(flight)
    assert (again.files_sent, again.bytes_sent, again.files_total) == (0, 0, 5)
    assert _versions(store, prefix) == versions
    assert [e["event"] for e in JsonlAudit.events(flight)] == ["flight_opened", "upload"]


class _LyingClient:
    """The store's answers, except that HEAD reports a different checksum for one key."""

    def __init__(self, client: Any, key_suffix: str) -> None:
        self._client = client
        self._suffix = key_suffix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def head_object(self, **kw: Any) -> dict[str, Any]:
        resp = self._client.head_object(**kw)
        if kw["Key"].endswith(self._suffix):
            resp = {**resp, "ChecksumSHA256": base64.b64encode(b"\0" * 32).decode()}
        return resp


def test_local_copy_is_kept_when_read_back_disagrees(store: EmbeddedStore, tmp_path: Path) -> None:
    files = _files(2)
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000002", files)
    cfg = _cfg(store, "t2", delete_local="after_verified")
    liar = _LyingClient(make_client(cfg), "000002.mp4.age")
    with pytest.raises(IntegrityError, match="does not match the local file"):
        _uploader(cfg, tmp_path, client=liar).upload_flight(flight)
    assert all((flight / rel).read_bytes() == data for rel, data in files.items())
    assert [e["event"] for e in JsonlAudit.events(flight)] == ["flight_opened"]
    assert StateDir(tmp_path / "state").load(flight.name).status == "uploading"  # type: ignore[union-attr]


def test_delete_after_verified_logs_then_deletes(store: EmbeddedStore, tmp_path: Path) -> None:
    files = _files(3)
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000003", files)
    cfg = _cfg(store, "t3", delete_local="after_verified")
    result = _uploader(cfg, tmp_path).upload_flight(flight)
    assert result.deleted_local and result.status == "deleted" and not flight.exists()
    prefix = "t3/op-kestrel/20261124T101500Z-00000003/"
    for rel, data in files.items():
        assert _object(store, prefix + rel) == data
    audit = [json.loads(line) for line in _object(store, prefix + "audit.jsonl").splitlines()]
    assert [e["event"] for e in audit] == ["flight_opened", "upload", "local_delete"]
    assert sorted(audit[2]["files"]) == sorted([*files, "audit.jsonl"])
    again = _uploader(cfg, tmp_path).upload_flight(flight)
    assert again.status == "deleted" and again.files_sent == 0


def test_flight_that_does_not_verify_is_not_uploaded(store: EmbeddedStore, tmp_path: Path) -> None:
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000004", {"a.bin": b"a"})
    cfg = _cfg(store, "t4", delete_local="after_verified")
    up = _uploader(cfg, tmp_path, verify=lambda d: FakeReport(False, ["segments/1: altered"]))
    with pytest.raises(IntegrityError, match="does not verify locally: segments/1: altered"):
        up.upload_flight(flight)
    assert _versions(store, "t4/") == {} and (flight / "a.bin").exists()


def test_interrupted_multipart_upload_resumes(store: EmbeddedStore, tmp_path: Path) -> None:
    data = os.urandom(16 * MIB + 7)  # 4 parts
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000005", {"seg.bin": data})
    with CutProxy(store.s3_port) as proxy:
        cfg = _cfg(store, "t5", endpoint=proxy.endpoint_url, part_concurrency=1,
                   delete_local="after_verified")
        proxy.cut_after(int(11.5 * MIB))
        with pytest.raises(EnvironmentFault, match="unreachable") as exc:
            _uploader(cfg, tmp_path).upload_flight(flight)
        assert "re-run 'drone-agent upload'" in exc.value.one_line()
        assert (flight / "seg.bin").read_bytes() == data
        saved = StateDir(tmp_path / "state").load(flight.name).files["seg.bin"]  # type: ignore[union-attr]
        assert saved["upload_id"] and 1 <= len(saved["parts"]) <= 3
        proxy.heal()
        progress = _Recorder()
        result = _uploader(cfg, tmp_path, progress=progress).upload_flight(flight)
    assert result.deleted_local and not flight.exists()
    assert _object(store, "t5/op-kestrel/20261124T101500Z-00000005/seg.bin") == data
    assert any(o.startswith("resumed (") for o in progress.outcomes)
    assert result.bytes_sent <= len(data) - 5 * MIB
    uploads = store.client().list_multipart_uploads(Bucket=store.bucket, Prefix="t5/")
    assert not uploads.get("Uploads")


class _Recorder:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None

    def file_finished(self, relpath: str, outcome: str) -> None:
        self.outcomes.append(outcome)


# -- the CLI with real evidence flights -------------------------------------------------------
@pytest.fixture()
def real_flight(tmp_path: Path) -> tuple[Path, Path]:
    key = DeviceKey.generate()
    key.save(tmp_path / "device-key.pem")
    vault = FlightVault.create(tmp_path / "out", device_key=key,
                               recipient=EvidenceIdentity.generate().recipient,
                               operation={"name": "Op Kestrel", "incident_ref": "KP/26/9",
                                          "config_sha256": "0" * 64})
    for i in range(3):
        vault.seal_segment(os.urandom(50_000 + i), {"trigger_id": "t1", "frame_count": 25})
    vault.seal_still(os.urandom(3000), {"trigger_id": "t1"})
    vault.close()
    return vault.flight_dir, tmp_path / "device-key.pem"


def _stores_file(tmp_path: Path, store: EmbeddedStore, **extra: str) -> Path:
    text = store.stores_file.read_text()
    text += "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    path = tmp_path / "stores.toml"
    path.write_text(text)
    return path


def _upload_cli(tmp_path: Path, stores: Path, flight: Path, key: Path, *more: str) -> list[str]:
    return ["upload", "--stores-file", str(stores), "--store", "embedded", "--state-dir",
            str(tmp_path / "state"), "--device-key", str(key), *more, str(flight)]


def test_cli_upload_real_flight_delete_and_verify_from_store(
    store: EmbeddedStore, tmp_path: Path, real_flight: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    flight, key = real_flight
    stores = _stores_file(tmp_path, store, prefix="cli", delete_local="after_verified")
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 0
    out = capsys.readouterr().out
    location = f"s3://{store.bucket}/cli/op-kestrel/{flight.name}/"
    assert "local copy deleted" in out and location in out and not flight.exists()
    # everything needed to verify the flight is in the store: verify the store's copy
    assert main(["verify", location, "--stores-file", str(stores), "--store", "embedded", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["status"] == "INTACT" and report["complete"] and report["segments_verified"] == 3, report
    assert report["flight_dir"] == location and report["flight_id"] == flight.name
    assert "fetched 6 objects" in captured.err  # manifest, audit, 3 segments, 1 still
    assert main(["upload", "--list", "--state-dir", str(tmp_path / "state")]) == 0
    assert "deleted" in capsys.readouterr().out


def test_cli_verify_and_decrypt_the_stores_copy(
    store: EmbeddedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    key, identity = DeviceKey.generate(), EvidenceIdentity.generate()
    key.save(tmp_path / "device-key.pem")
    identity.save(tmp_path / "evidence-key.txt", "2026-12-04T00:00:00Z")
    vault = FlightVault.create(tmp_path / "out", device_key=key, recipient=identity.recipient,
                               operation={"name": "Op Merlin", "incident_ref": "KP/26/12"})
    plaintexts = [os.urandom(70_000 + i) for i in range(2)]
    for data in plaintexts:
        vault.seal_segment(data, {"trigger_id": "t1", "frame_count": 10})
    vault.close()
    stores = _stores_file(tmp_path, store, prefix="fetch")
    assert main(_upload_cli(tmp_path, stores, vault.flight_dir, tmp_path / "device-key.pem")) == 0
    prefix = f"fetch/op-merlin/{vault.flight_id}/"
    location = f"s3://{store.bucket}/{prefix}"
    which = ["--stores-file", str(stores), "--store", "embedded"]
    decrypt = ["decrypt", location, *which, "--key", str(tmp_path / "evidence-key.txt"),
               "--who", "DC 4567 Jones"]
    capsys.readouterr()

    # an investigator must say why: nothing is fetched-and-decrypted without a logged reason
    assert main([*decrypt, "--out", str(tmp_path / "a")]) == 2
    assert "needs --reason" in capsys.readouterr().err and not (tmp_path / "a").exists()

    assert main([*decrypt, "--out", str(tmp_path / "b"), "--reason", "review of KP/26/12"]) == 0
    out = capsys.readouterr().out
    decrypted = sorted((tmp_path / "b" / vault.flight_id).glob("segment-*.mp4"))
    assert [p.read_bytes() for p in decrypted] == plaintexts
    summary = (tmp_path / "b" / vault.flight_id / "exhibit-summary.txt").read_text()
    assert f"Source:              {location}" in summary and "DC 4567 Jones" in summary
    c = store.client()
    access = c.list_objects_v2(Bucket=store.bucket, Prefix=prefix + "_access/")["Contents"]
    record = json.loads(_object(store, access[0]["Key"]))
    assert len(access) == 1 and access[0]["Key"] in out
    assert record["who"] == "DC 4567 Jones" and record["reason"] == "review of KP/26/12"
    assert record["objects"] == [prefix + f"segments/00000{i}.mp4.age" for i in (1, 2)]
    # the post-flight report of the store's copy names the store location, not a temporary folder
    assert main(["report", location, *which, "--out", str(tmp_path / "r.html")]) == 0
    assert f"drone-agent verify {location}" in (tmp_path / "r.html").read_text()
    # store-side records are not part of the flight: the store's copy still verifies complete
    assert main(["verify", location, *which]) == 0
    assert ": INTACT\n" in capsys.readouterr().out

    # a segment altered in the store (a new version of the object) is caught, in the store's copy
    sealed = c.get_object(Bucket=store.bucket, Key=prefix + "segments/000002.mp4.age")["Body"].read()
    c.put_object(Bucket=store.bucket, Key=prefix + "segments/000002.mp4.age", Body=sealed[:-1] + b"\0")
    assert main(["verify", location, *which]) == 1
    assert "TAMPERED: segments/000002.mp4.age: altered or replaced" in capsys.readouterr().out
    assert main([*decrypt, "--out", str(tmp_path / "c"), "--reason", "again"]) == 1
    err = capsys.readouterr().err
    assert f"{location}: tampered" in err and f"drone-agent verify {location}" in err
    assert not (tmp_path / "c" / vault.flight_id).exists()
    # nothing was decrypted, so no consultation was logged for that attempt
    assert len(c.list_objects_v2(Bucket=store.bucket, Prefix=prefix + "_access/")["Contents"]) == 1

    # a location with no flight, and one that is not a location at all
    assert main(["verify", f"s3://{store.bucket}/fetch/op-merlin/no-such-flight", *which]) == 2
    assert "no flight at s3://" in capsys.readouterr().err
    assert main(["verify", "s3://evidence", *which]) == 2
    assert "not a flight location" in capsys.readouterr().err


def test_cli_init_and_mark_evidential(
    store: EmbeddedStore, tmp_path: Path, real_flight: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    flight, key = real_flight
    stores = _stores_file(tmp_path, store, prefix="mark")
    assert main(["store", "init", "--stores-file", str(stores), "--store", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "legal hold          ok" in out and "lifecycle expiry    ok" in out
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 0
    assert main(["mark", "evidential", flight.name, "000002", "--by", "DC Smith 1234",
                 "--reason", "shows the assault", "--stores-file", str(stores), "--store",
                 "embedded"]) == 0
    out = capsys.readouterr().out
    assert "3 objects tagged evidential=yes; legal hold placed" in out
    c = store.client()
    prefix = f"mark/op-kestrel/{flight.name}/"
    for rel, evidential in (("segments/000002.mp4.age", "yes"), ("manifest.jsonl", "yes"),
                            ("segments/000001.mp4.age", "no")):
        tags = {t["Key"]: t["Value"] for t in c.get_object_tagging(
            Bucket=store.bucket, Key=prefix + rel)["TagSet"]}
        assert tags["evidential"] == evidential
    hold = c.get_object_legal_hold(Bucket=store.bucket, Key=prefix + "segments/000002.mp4.age")
    assert hold["LegalHold"]["Status"] == "ON"
    marks = c.list_objects_v2(Bucket=store.bucket, Prefix=prefix + "_marks/")["Contents"]
    record = json.loads(_object(store, marks[0]["Key"]))
    assert record["by"] == "DC Smith 1234" and record["reason"] == "shows the assault"


def test_cli_wrong_credentials(store: EmbeddedStore, tmp_path: Path,
                               real_flight: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    flight, key = real_flight
    creds = tmp_path / "bad-credentials"
    access = store.credentials().access_key_id
    creds.write_text(f"[bad]\naws_access_key_id = {access}\naws_secret_access_key = wrong\n")
    stores = tmp_path / "stores.toml"
    stores.write_text(f'[stores.embedded]\nendpoint = "{store.endpoint_url}"\nbucket = "evidence"\n'
                      f'aws_profile = "bad"\ncredentials_file = "{creds}"\n')
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("input: ") and "rejected the credentials" in err and "\n" not in err
    assert (flight / "manifest.jsonl").exists()


def test_cli_missing_bucket(store: EmbeddedStore, tmp_path: Path, real_flight: tuple[Path, Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    flight, key = real_flight
    stores = tmp_path / "stores.toml"
    stores.write_text(store.stores_file.read_text().replace('"evidence"', '"no-such-bucket"'))
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 2
    err = capsys.readouterr().err.strip()
    assert "bucket 'no-such-bucket' does not exist" in err and "drone-agent store init" in err


def test_cli_store_unreachable(store: EmbeddedStore, tmp_path: Path,
                               real_flight: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    flight, key = real_flight
    with CutProxy(store.s3_port) as proxy:
        proxy.cut_after(0)  # a port that accepts and hangs up at once: the network is gone
        stores = tmp_path / "stores.toml"
        text = store.stores_file.read_text().replace(store.endpoint_url, proxy.endpoint_url)
        stores.write_text(text + "retries = 2\n")
        assert main(_upload_cli(tmp_path, stores, flight, key)) == 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("environment: ") and "unreachable" in err and "re-run" in err
    assert (flight / "manifest.jsonl").exists()


def test_cli_disk_full_then_resume(store: EmbeddedStore, tmp_path: Path,
                                   real_flight: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    flight, key = real_flight
    stores = _stores_file(tmp_path, store, prefix="full", delete_local="after_verified")
    real_write = state_mod._atomic_write
    writes = {"n": 0}

    def fill_up(path: Path, data: bytes) -> None:
        writes["n"] += 1
        if writes["n"] > 4:
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(state_mod, "_atomic_write", fill_up)
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 5
    err = capsys.readouterr().err.strip()
    assert "disk full" in err and "free some space" in err
    assert flight.exists() and verify_flight(flight).intact
    monkeypatch.setattr(state_mod, "_atomic_write", real_write)  # space freed
    assert main(_upload_cli(tmp_path, stores, flight, key)) == 0
    assert not flight.exists()
    versions = _versions(store, "full/")
    assert all(len(v) == 1 for k, v in versions.items() if not k.endswith("audit.jsonl"))


def test_interrupted_local_deletion_finishes_on_rerun(
    store: EmbeddedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"manifest.jsonl": b"m" * 100, "segments/000001.mp4.age": b"s" * 1000,
             "segments/000002.mp4.age": b"t" * 1000}
    flight = make_flight(tmp_path / "out", "20261124T101500Z-00000006", files)
    cfg = _cfg(store, "t6", delete_local="after_verified")
    real_unlink = Path.unlink
    calls = {"n": 0}

    def flaky_unlink(self: Path, missing_ok: bool = False) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise PermissionError(1, "Operation not permitted", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", flaky_unlink)
    with pytest.raises(EnvironmentFault, match="cannot delete"):
        _uploader(cfg, tmp_path).upload_flight(flight)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert StateDir(tmp_path / "state").load(flight.name).status == "deleting"  # type: ignore[union-attr]
    assert not (flight / "manifest.jsonl").exists() and (flight / "audit.jsonl").exists()
    result = _uploader(cfg, tmp_path, verify=lambda d: FakeReport(False, ["manifest missing"]))
    assert result.upload_flight(flight).status == "deleted" and not flight.exists()


def test_queue_survives_restart_and_upload_all_carries_on(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    flights = [make_flight(tmp_path / "out", f"20261124T1115{i:02d}Z-0000000{i}",
                           {"manifest.jsonl": bytes([i]) * 50}) for i in range(3)]
    for flight in flights:  # the agent, after each landing
        enqueue_flight(flight, tmp_path / "state")
    bad = flights[1].name

    def verify(flight_dir: Path) -> FakeReport:
        return FakeReport(flight_dir.name != bad, ["audit.jsonl line 3: altered"])

    up = _uploader(_cfg(store, "t7"), tmp_path, verify=verify)  # a new process: state from disk
    results, errors = up.upload_all()
    assert sorted(r.flight_id for r in results) == sorted(f.name for f in flights if f.name != bad)
    assert [(fid, type(e)) for fid, e in errors] == [(bad, IntegrityError)]
    assert [s.flight_id for s in StateDir(tmp_path / "state").pending()] == [bad]


def test_bucket_without_object_lock_is_reported_and_marking_still_tags(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    cfg = _cfg(store, "nl", bucket="no-lock-bucket")
    caps = {c.name: c for c in init_bucket(make_client(cfg), cfg, object_lock=False)}
    assert caps["bucket"].detail == "'no-lock-bucket' created"
    assert caps["versioning"].supported and caps["lifecycle expiry"].supported
    assert not caps["object lock"].supported and "no legal hold" in caps["object lock"].detail
    assert not caps["legal hold"].supported
    flight = make_flight(tmp_path / "out", "20261124T121500Z-0000000a",
                         {"segments/000001.mp4.age": b"x" * 100})
    _uploader(cfg, tmp_path).upload_flight(flight)
    marked = mark_evidential(make_client(cfg), cfg, flight.name, ["000001"], by="DC 1", reason="r")
    assert not marked.legal_hold and len(marked.keys) == 2  # the segment and the audit log
    tags = store.client().get_object_tagging(Bucket="no-lock-bucket", Key=marked.keys[1])
    assert {"Key": "evidential", "Value": "yes"} in tags["TagSet"]
