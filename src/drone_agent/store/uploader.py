"""Resumable, verified upload of a flight folder to an S3-compatible evidence store.

Theory of operation
-------------------
For one flight (state machine in :mod:`drone_agent.store.state`)::

  1. verify the flight locally (``verify_flight``: refuse a flight that is not intact);
  2. check the bucket and credentials with one cheap request;
  3. for every file except the audit log: hash it (whole-file SHA-256, and per-part SHA-256 when it
     is sent in parts); if the state says it is in the store with this hash, skip it; else ask the
     store: an object already there with the expected checksum counts as uploaded (a previous run
     died before recording it), a different one is an IntegrityError; otherwise
       - small file: one PUT with ``ChecksumSHA256`` and ``If-None-Match: *`` (so a retried PUT whose
         first attempt did land cannot create a second version),
       - large file: multipart with a SHA-256 per part; the upload id and every acknowledged part's
         ETag go to the state file as they happen, so a later run lists the parts the store holds,
         keeps those it recorded, sends the rest and completes;
  4. read back every object (size and the store's SHA-256 / COMPOSITE checksum, which the store
     computed from the bytes it received) and compare with the local hashes;
  5. append ``upload`` to the flight's audit log (and, when configured to delete the local copy and
     every file is unchanged since it was hashed, ``local_delete``, written before deleting);
  6. upload the audit log itself (a new version when it grew), read it back;
  7. only then, when ``delete_local = "after_verified"``, delete the local files.

Transient failures are retried a few times (:class:`~drone_agent.store.s3io.Retry`); beyond that
the run stops with a one-line EnvironmentFault and the state on disk lets the next run continue.
Nothing local is deleted unless step 6 finished for every file in the same run or an earlier one.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from drone_agent.errors import DroneAgentError, EnvironmentFault, InputError, IntegrityError
from drone_agent.store import plan
from drone_agent.store.config import StoreConfig
from drone_agent.store.plan import FileDigest, FlightInfo
from drone_agent.store.progress import NullProgress, Progress
from drone_agent.store.s3io import Retry, error_code, http_status, translate
from drone_agent.store.state import FlightState, StateDir

Verifier = Callable[[Path], Any]  # -> report with .intact: bool and .problems: list[str]
AuditOpener = Callable[[Path], Callable[..., Any]]  # flight_dir -> append(event, **fields)
Summarizer = Callable[[Path], FlightInfo]


@dataclass(frozen=True, slots=True)
class ObjectStat:
    """What the store says it holds under a key."""

    size_bytes: int
    checksum_sha256: str | None  # as the store reports it ("b64" or COMPOSITE "b64-N")
    metadata_sha256: str | None
    part_size_bytes: int | None
    version_id: str | None


@dataclass(frozen=True, slots=True)
class FlightResult:
    """Summary of one flight's upload run."""

    flight_id: str
    status: str  # state status after the run
    store: str
    key_prefix: str
    files_total: int
    files_sent: int
    bytes_total: int
    bytes_sent: int
    seconds: float
    deleted_local: bool

    @property
    def mb_per_s(self) -> float:
        return self.bytes_sent / 1e6 / self.seconds if self.seconds > 0 else 0.0


def stat_matches(digest: FileDigest, stat: ObjectStat) -> bool:
    """True when the store's size and checksum prove it holds exactly the hashed bytes."""
    if stat.size_bytes != digest.size_bytes or stat.checksum_sha256 is None:
        return False
    if stat.metadata_sha256 is not None and stat.metadata_sha256 != digest.sha256_hex:
        return False
    return stat.checksum_sha256 == digest.expected_checksum


def _in_parallel(jobs: list[Callable[[], None]], workers: int) -> None:
    """Run ``jobs`` on up to ``workers`` threads; on the first failure cancel what has not
    started, wait for what has, and re-raise it."""
    if len(jobs) <= 1 or workers == 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            pool.shutdown(wait=True, cancel_futures=True)
            raise failed[0].exception()  # type: ignore[misc]


def _is(exc: BaseException, *codes: str) -> bool:
    return isinstance(exc, ClientError) and (
        error_code(exc) in codes or str(http_status(exc)) in codes
    )


class Uploader:
    """Uploads flight folders to one store; see the module doc for the steps."""

    def __init__(
        self,
        cfg: StoreConfig,
        client: Any,
        states: StateDir,
        *,
        verify: Verifier,
        audit_for: AuditOpener,
        summarize: Summarizer,
        retry: Retry = Retry(),
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.states = states
        self._verify = verify
        self._audit_for = audit_for
        self._summarize = summarize
        self._retry = retry
        self.progress: Progress = progress or NullProgress()
        self._clock = clock
        self._attributes_report_checksum: bool | None = None
        self._bytes_sent = 0
        self._files_sent = 0
        self._count_lock = threading.Lock()

    # -- S3 calls --------------------------------------------------------------------------
    def _call(self, doing: str, fn: Callable[[], Any]) -> Any:
        try:
            return self._retry.call(fn)
        except Exception as exc:
            raise translate(exc, self.cfg, doing) from exc

    def check_bucket(self) -> None:
        """One request proving endpoint, credentials and bucket (permitted to an uploader)."""
        self._call(
            f"checking the bucket '{self.cfg.bucket}'",
            lambda: self.client.list_multipart_uploads(Bucket=self.cfg.bucket, MaxUploads=1),
        )

    def stat(self, key: str) -> ObjectStat | None:
        """Size and checksum of ``key`` (GetObjectAttributes when the store reports checksums
        there, as AWS does for identities without read access; HEAD otherwise); None if absent."""
        if self._attributes_report_checksum is not False:
            try:
                resp = self._retry.call(
                    lambda: self.client.get_object_attributes(
                        Bucket=self.cfg.bucket,
                        Key=key,
                        ObjectAttributes=["Checksum", "ObjectSize", "ObjectParts"],
                    )
                )
            except ClientError as exc:
                if _is(exc, "NoSuchKey", "404"):
                    return None
                self._attributes_report_checksum = False
            except Exception as exc:
                raise translate(exc, self.cfg, f"reading back {key}") from exc
            else:
                checksum = resp.get("Checksum", {}).get("ChecksumSHA256")
                if checksum:
                    self._attributes_report_checksum = True
                    parts = resp.get("ObjectParts", {}).get("TotalPartsCount")
                    if parts and "-" not in checksum:
                        checksum = f"{checksum}-{parts}"
                    return ObjectStat(int(resp["ObjectSize"]), checksum, None, None,
                                      resp.get("VersionId"))
                self._attributes_report_checksum = False
        try:
            head = self._retry.call(
                lambda: self.client.head_object(
                    Bucket=self.cfg.bucket, Key=key, ChecksumMode="ENABLED"
                )
            )
        except ClientError as exc:
            if _is(exc, "NoSuchKey", "404", "NotFound"):
                return None
            raise translate(exc, self.cfg, f"reading back {key}") from exc
        except Exception as exc:
            raise translate(exc, self.cfg, f"reading back {key}") from exc
        meta = head.get("Metadata", {})
        part_size = meta.get("part-size")
        return ObjectStat(
            int(head["ContentLength"]),
            head.get("ChecksumSHA256"),
            meta.get("sha256"),
            int(part_size) if part_size and part_size.isdigit() else None,
            head.get("VersionId"),
        )

    # -- one flight ------------------------------------------------------------------------
    def upload_flight(self, flight_dir: Path) -> FlightResult:
        flight_dir = Path(flight_dir).resolve()
        started = self._clock()
        self._bytes_sent = self._files_sent = 0
        state = self.states.enqueue(flight_dir)
        if state.status == "deleted":
            self.progress.note(f"{state.flight_id}: already uploaded, verified and deleted locally")
            return self._result(state, "", [], started, deleted=False)
        if state.data.get("target") != self.cfg.target:
            if state.status == "deleting":
                raise InputError(
                    f"flight {state.flight_id} was verified in another store ({state.data['target']}) "
                    "and is being deleted locally",
                    "re-run with that store",
                )
            state.data.update(target=self.cfg.target, store=self.cfg.name, files={}, events=[])
            state.set_status("queued")
        if state.status == "deleting":  # verified earlier; the local deletion was interrupted
            digests = self._digests_from_state(state, flight_dir)
            self.progress.note(f"{state.flight_id}: finishing the deletion of the local copy")
            self._delete_local(flight_dir, state, digests)
            return self._result(state, "", digests, started, deleted=True)
        if not flight_dir.is_dir():
            raise InputError(f"flight folder {flight_dir} not found", "pass an existing flight folder")
        self._verify_locally(flight_dir)
        flight = self._summarize(flight_dir)
        prefix = plan.flight_prefix(self.cfg.prefix, flight)
        self.check_bucket()
        relpaths = plan.flight_files(flight_dir)
        data_paths = [r for r in relpaths if r != plan.AUDIT_FILE]
        total = sum((flight_dir / r).stat().st_size for r in relpaths)
        self.progress.flight_started(state.flight_id, len(relpaths), total)
        state.set_status("uploading", last_error=None)
        try:
            try:
                digests = self._upload_and_verify(flight_dir, flight, state, data_paths)
                digests += self._record_and_upload_audit(flight_dir, flight, state, digests)
            except OSError as exc:
                raise translate(exc, self.cfg, f"reading {exc.filename or flight_dir}") from exc
        except DroneAgentError as exc:
            state.data["last_error"] = exc.one_line()
            state.save()
            self.progress.flight_finished(state.flight_id, f"stopped: {exc.one_line()}")
            raise
        deleted = False
        if self.cfg.delete_local == "after_verified":
            self._delete_local(flight_dir, state, digests)
            deleted = True
        else:
            state.set_status("uploaded")
        result = self._result(state, prefix, digests, started, deleted=deleted)
        where = f"s3://{self.cfg.bucket}/{prefix}"
        outcome = f"{result.files_total} objects verified at {where}; sent {result.files_sent}"
        outcome += "; local copy deleted" if deleted else "; local copy kept"
        self.progress.flight_finished(state.flight_id, outcome)
        return result

    def _result(
        self, state: FlightState, prefix: str, digests: list[FileDigest], started: float,
        *, deleted: bool,
    ) -> FlightResult:
        return FlightResult(
            flight_id=state.flight_id,
            status=state.status,
            store=self.cfg.name,
            key_prefix=prefix,
            files_total=len(digests),
            files_sent=self._files_sent,
            bytes_total=sum(d.size_bytes for d in digests),
            bytes_sent=self._bytes_sent,
            seconds=self._clock() - started,
            deleted_local=deleted,
        )

    def _verify_locally(self, flight_dir: Path) -> None:
        report = self._verify(flight_dir)
        if not report.intact:
            problems = list(getattr(report, "problems", []) or ["verification failed"])
            raise IntegrityError(
                f"flight {flight_dir.name} does not verify locally: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                + "; nothing uploaded",
                f"run 'drone-agent verify {flight_dir}' and report the flight to the evidence officer",
            )

    def _hash(self, flight_dir: Path, relpath: str, st: dict[str, Any]) -> FileDigest:
        path = flight_dir / relpath
        size = path.stat().st_size
        wanted = plan.part_size_for(
            size, self.cfg.multipart_threshold_bytes, self.cfg.part_size_bytes
        )
        part_size = int(st.get("part_size", wanted)) if st.get("upload_id") else wanted
        digest = plan.hash_file(path, relpath, part_size)
        if part_size != wanted and digest.sha256_hex != st.get("sha256"):
            digest = plan.hash_file(path, relpath, wanted)
        return digest

    def _upload_and_verify(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, relpaths: list[str]
    ) -> list[FileDigest]:
        """Send every file not yet in the store (small files several at a time, large ones one
        after another with their parts in parallel), then read every object back."""
        digests: dict[str, FileDigest] = {}

        def job(relpath: str) -> None:
            st = state.file(relpath)
            key = plan.object_key(self.cfg.prefix, flight, relpath)
            digest = self._hash(flight_dir, relpath, st)
            if st.get("sha256") != digest.sha256_hex or st.get("key") != key:
                if st.get("upload_id"):
                    self._abort(key, st["upload_id"])
                state.reset_file(relpath, key=key, sha256=digest.sha256_hex,
                                 size=digest.size_bytes, uploaded=False)
            self._send(flight_dir, flight, state, digest, key, write_once=True)
            digests[relpath] = digest

        threshold = self.cfg.multipart_threshold_bytes
        large = [r for r in relpaths if (flight_dir / r).stat().st_size >= threshold]
        small = [r for r in relpaths if r not in large]
        _in_parallel([lambda r=r: job(r) for r in small], self.cfg.part_concurrency)
        for relpath in large:
            job(relpath)
        ordered = [digests[r] for r in relpaths]
        for digest in ordered:
            self._read_back(digest, state.file(digest.relpath)["key"])
        return ordered

    def _read_back(self, digest: FileDigest, key: str) -> ObjectStat:
        stat = self.stat(key)
        if stat is None:
            raise IntegrityError(
                f"read-back: {key} is missing from the store after upload",
                "re-run 'drone-agent upload'; the local copy is kept",
            )
        if stat.checksum_sha256 is None:
            raise IntegrityError(
                f"read-back: the store reports no SHA-256 checksum for {key}, so the upload cannot "
                "be verified; the local copy is kept",
                "use a store that supports S3 additional checksums (AWS S3, MinIO, SeaweedFS, Ceph)",
            )
        if not stat_matches(digest, stat):
            raise IntegrityError(
                f"read-back: {key} in the store ({stat.size_bytes} bytes, {stat.checksum_sha256}) "
                f"does not match the local file ({digest.size_bytes} bytes, "
                f"{digest.expected_checksum}); the local copy is kept",
                "report to the evidence officer; do not delete the local copy",
            )
        return stat

    def _existing_matches(self, flight_dir: Path, digest: FileDigest, stat: ObjectStat) -> bool:
        if stat_matches(digest, stat):
            return True
        if stat.part_size_bytes and stat.part_size_bytes != digest.part_size_bytes:
            # the same bytes sent earlier with another part size
            again = plan.hash_file(flight_dir / digest.relpath, digest.relpath, stat.part_size_bytes)
            return again.sha256_hex == digest.sha256_hex and stat_matches(again, stat)
        return False

    def _send(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, digest: FileDigest,
        key: str, *, write_once: bool,
    ) -> None:
        st = state.file(digest.relpath)
        self.progress.file_started(digest.relpath, digest.size_bytes)
        if st.get("uploaded"):
            self.progress.advanced(digest.relpath, digest.size_bytes)
            self.progress.file_finished(digest.relpath, "already in the store")
            return
        if not st.get("upload_id"):
            existing = self.stat(key)
            if existing is not None:
                if not self._existing_matches(flight_dir, digest, existing):
                    if write_once:
                        raise IntegrityError(
                            f"the store already holds a different {key}; the local copy is kept",
                            "report to the evidence officer (flight id clash or altered file)",
                        )
                else:
                    state.update_file(digest.relpath, uploaded=True, version_id=existing.version_id)
                    self.progress.advanced(digest.relpath, digest.size_bytes)
                    self.progress.file_finished(digest.relpath, "already in the store")
                    return
        if digest.multipart:
            outcome = self._send_multipart(flight_dir, flight, state, digest, key)
        else:
            outcome = self._send_single(flight_dir, flight, state, digest, key, write_once)
        self.progress.file_finished(digest.relpath, outcome)

    def _count(self, nbytes: int, files: int = 0) -> None:
        with self._count_lock:
            self._bytes_sent += nbytes
            self._files_sent += files

    def _send_single(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, digest: FileDigest,
        key: str, write_once: bool,
    ) -> str:
        body = (flight_dir / digest.relpath).read_bytes()
        extra = {"IfNoneMatch": "*"} if write_once else {}
        attempts = 0

        def put() -> dict[str, Any] | None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the previous attempt may have landed
                existing = self.stat(key)
                if existing is not None and stat_matches(digest, existing):
                    return {"VersionId": existing.version_id}
            return self.client.put_object(
                Bucket=self.cfg.bucket,
                Key=key,
                Body=body,
                ChecksumSHA256=digest.sha256_b64,
                Metadata=plan.object_metadata(digest, flight),
                Tagging=plan.tagging_header(plan.object_tags(flight, evidential=False)),
                **extra,
            )

        try:
            resp = self._retry.call(put)
        except ClientError as exc:
            if not _is(exc, "PreconditionFailed", "412"):
                raise self._send_error(exc, key) from exc
            resp = self._settle_existing(flight_dir, digest, key)
        except Exception as exc:
            raise self._send_error(exc, key) from exc
        state.update_file(digest.relpath, uploaded=True, version_id=(resp or {}).get("VersionId"))
        self._count(digest.size_bytes, 1)
        self.progress.advanced(digest.relpath, digest.size_bytes)
        return "uploaded"

    def _send_error(self, exc: BaseException, key: str) -> DroneAgentError:
        if _is(exc, "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
            return IntegrityError(
                f"the store received different bytes for {key} than were hashed "
                f"({error_code(exc)}): the file changed or the data was damaged in transit",
                "re-run 'drone-agent upload'; if it persists, verify the flight",
            )
        return translate(exc, self.cfg, f"uploading {key}")

    def _settle_existing(self, flight_dir: Path, digest: FileDigest, key: str) -> dict[str, Any]:
        """After 412/NoSuchUpload: the object is there -- accept it only if it is ours."""
        existing = self.stat(key)
        if existing is None or not self._existing_matches(flight_dir, digest, existing):
            raise IntegrityError(
                f"the store already holds a different {key}; the local copy is kept",
                "report to the evidence officer (flight id clash or altered file)",
            )
        return {"VersionId": existing.version_id}

    # -- multipart -------------------------------------------------------------------------
    def _list_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        parts: dict[int, tuple[int, str]] = {}
        marker = 0
        while True:
            resp = self._retry.call(
                lambda: self.client.list_parts(
                    Bucket=self.cfg.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
            )
            for part in resp.get("Parts", []):
                parts[int(part["PartNumber"])] = (int(part["Size"]), str(part["ETag"]))
            if not resp.get("IsTruncated"):
                return parts
            marker = int(resp["NextPartNumberMarker"])

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._retry.call(
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.cfg.bucket, Key=key, UploadId=upload_id
                )
            )
        except Exception:  # noqa: BLE001 - best effort; the lifecycle rule aborts stale uploads
            return

    def _abort_others(self, key: str, keep_upload_id: str) -> None:
        """Abort stray multipart uploads of ``key`` (an earlier run lost their ids)."""
        try:
            resp = self._retry.call(
                lambda: self.client.list_multipart_uploads(Bucket=self.cfg.bucket, Prefix=key)
            )
        except Exception:  # noqa: BLE001 - best effort
            return
        for upload in resp.get("Uploads", []):
            if upload.get("Key") == key and upload.get("UploadId") != keep_upload_id:
                self._abort(key, upload["UploadId"])

    def _send_multipart(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, digest: FileDigest,
        key: str,
    ) -> str:
        st = state.file(digest.relpath)
        upload_id = st.get("upload_id")
        recorded = {int(n): etag for n, etag in st.get("parts", {}).items()}
        outcome = "uploaded"
        if upload_id:
            try:
                held = self._list_parts(key, upload_id)
            except ClientError as exc:
                if not _is(exc, "NoSuchUpload", "404"):
                    raise self._send_error(exc, key) from exc
                existing = self.stat(key)
                if existing is not None and self._existing_matches(flight_dir, digest, existing):
                    return self._finish_multipart(state, digest, existing.version_id, "uploaded")
                upload_id, recorded = None, {}
            except Exception as exc:
                raise self._send_error(exc, key) from exc
            else:
                recorded = {
                    n: etag for n, etag in recorded.items()
                    if held.get(n) == (digest.part_range(n)[1], etag)
                }
                outcome = f"resumed ({len(recorded)} of {len(digest.part_sha256)} parts kept)"
        if not upload_id:
            resp = self._call(
                f"starting the multipart upload of {key}",
                lambda: self.client.create_multipart_upload(
                    Bucket=self.cfg.bucket,
                    Key=key,
                    ChecksumAlgorithm="SHA256",
                    Metadata=plan.object_metadata(digest, flight),
                    Tagging=plan.tagging_header(plan.object_tags(flight, evidential=False)),
                ),
            )
            upload_id = resp["UploadId"]
        state.update_file(digest.relpath, upload_id=upload_id, part_size=digest.part_size_bytes,
                          parts={str(n): etag for n, etag in recorded.items()})
        for n in recorded:
            self.progress.advanced(digest.relpath, digest.part_range(n)[1])
        todo = [n for n in range(1, len(digest.part_sha256) + 1) if n not in recorded]
        self._send_parts(flight_dir, state, digest, key, upload_id, todo)
        etags = state.file(digest.relpath)["parts"]
        parts = [
            {
                "PartNumber": n,
                "ETag": etags[str(n)],
                "ChecksumSHA256": base64.b64encode(digest.part_sha256[n - 1]).decode(),
            }
            for n in range(1, len(digest.part_sha256) + 1)
        ]
        try:
            resp = self._retry.call(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.cfg.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
            )
        except ClientError as exc:
            if not _is(exc, "PreconditionFailed", "412", "NoSuchUpload"):
                raise self._send_error(exc, key) from exc
            resp = self._settle_existing(flight_dir, digest, key)
        except Exception as exc:
            raise self._send_error(exc, key) from exc
        self._abort_others(key, upload_id)
        self._count(0, 1)
        return self._finish_multipart(state, digest, resp.get("VersionId"), outcome)

    def _finish_multipart(
        self, state: FlightState, digest: FileDigest, version_id: str | None, outcome: str
    ) -> str:
        state.update_file(digest.relpath, drop=("upload_id", "parts"), uploaded=True,
                          version_id=version_id)
        return outcome

    def _send_parts(
        self, flight_dir: Path, state: FlightState, digest: FileDigest, key: str,
        upload_id: str, todo: list[int],
    ) -> None:
        path = flight_dir / digest.relpath

        def send(n: int) -> None:
            offset, length = digest.part_range(n)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(length)
            checksum = base64.b64encode(digest.part_sha256[n - 1]).decode()
            try:
                resp = self._retry.call(
                    lambda: self.client.upload_part(
                        Bucket=self.cfg.bucket, Key=key, UploadId=upload_id, PartNumber=n,
                        Body=data, ChecksumSHA256=checksum,
                    )
                )
            except Exception as exc:
                raise self._send_error(exc, f"{key} part {n}") from exc
            state.record_part(digest.relpath, n, resp["ETag"])
            self._count(length)
            self.progress.advanced(digest.relpath, length)

        _in_parallel([lambda n=n: send(n) for n in todo], self.cfg.part_concurrency)

    # -- audit log, deletion -------------------------------------------------------------------
    def _record_and_upload_audit(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, digests: list[FileDigest]
    ) -> list[FileDigest]:
        deleting = self.cfg.delete_local == "after_verified"
        if "upload" not in state.events or (deleting and "local_delete" not in state.events):
            append = self._audit_for(flight_dir)
            objects = [
                {"path": d.relpath, "sha256": d.sha256_hex, "size_bytes": d.size_bytes,
                 "key": state.file(d.relpath)["key"],
                 "version_id": state.file(d.relpath).get("version_id")}
                for d in digests
            ]
            if "upload" not in state.events:
                append(
                    "upload", store=self.cfg.name, endpoint=self.cfg.endpoint or "aws",
                    bucket=self.cfg.bucket, key_prefix=plan.flight_prefix(self.cfg.prefix, flight),
                    objects=objects, verified="size and SHA-256 read back from the store",
                )
                state.add_event("upload")
            if deleting and "local_delete" not in state.events:
                self._check_unchanged(flight_dir, digests)
                append(
                    "local_delete", reason="after_verified", store=self.cfg.name,
                    bucket=self.cfg.bucket, files=[d.relpath for d in digests] + [plan.AUDIT_FILE],
                )
                state.add_event("local_delete")
        audit_path = flight_dir / plan.AUDIT_FILE
        if not audit_path.exists():
            return []
        st = state.file(plan.AUDIT_FILE)
        key = plan.object_key(self.cfg.prefix, flight, plan.AUDIT_FILE)
        digest = plan.hash_file(audit_path, plan.AUDIT_FILE, 0)
        if st.get("sha256") != digest.sha256_hex:
            state.reset_file(plan.AUDIT_FILE, key=key, sha256=digest.sha256_hex,
                             size=digest.size_bytes, uploaded=False)
        self._send(flight_dir, flight, state, digest, key, write_once=False)
        self._read_back(digest, key)
        return [digest]

    def _check_unchanged(self, flight_dir: Path, digests: Iterable[FileDigest]) -> None:
        for digest in digests:
            stat = (flight_dir / digest.relpath).stat()
            if (stat.st_size, stat.st_mtime_ns) != (digest.size_bytes, digest.mtime_ns):
                raise IntegrityError(
                    f"{flight_dir / digest.relpath} changed after it was uploaded; "
                    "the local copy is kept",
                    "re-run 'drone-agent upload' to send the new version",
                )

    def _digests_from_state(self, state: FlightState, flight_dir: Path) -> list[FileDigest]:
        """Files still to delete in a flight whose deletion was interrupted."""
        out = []
        for relpath, st in state.files.items():
            path = flight_dir / relpath
            if path.exists() and st.get("uploaded"):
                stat = path.stat()
                out.append(FileDigest(relpath, stat.st_size, stat.st_mtime_ns, st["sha256"], 0, ()))
        return out

    def _delete_local(self, flight_dir: Path, state: FlightState, digests: list[FileDigest]) -> None:
        if state.status != "deleting":
            self._check_unchanged(flight_dir, digests)
            state.set_status("deleting")
        for digest in sorted(digests, key=lambda d: d.relpath == plan.AUDIT_FILE):
            if not state.file(digest.relpath).get("uploaded"):
                raise IntegrityError(
                    f"refusing to delete {digest.relpath}: not recorded as verified in the store"
                )
            try:
                (flight_dir / digest.relpath).unlink(missing_ok=True)
            except OSError as exc:
                raise EnvironmentFault(
                    f"cannot delete {flight_dir / digest.relpath}: {exc.strerror}",
                    "fix the permissions and re-run 'drone-agent upload'",
                ) from exc
        if not flight_dir.exists():
            state.set_status("deleted")
            return
        for folder in sorted(
            (p for p in flight_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            if not any(folder.iterdir()):
                folder.rmdir()
        left = [p for p in flight_dir.rglob("*") if p.is_file()]
        if not left:
            flight_dir.rmdir()
        else:
            self.progress.note(f"{len(left)} files not part of the upload remain in {flight_dir}")
        state.set_status("deleted")

    # -- the queue -------------------------------------------------------------------------
    def upload_all(self) -> tuple[list[FlightResult], list[tuple[str, DroneAgentError]]]:
        """Upload every queued flight; errors are collected per flight, the queue carries on
        (except for errors that would fail every flight: credentials, bucket, unreachable)."""
        results: list[FlightResult] = []
        errors: list[tuple[str, DroneAgentError]] = []
        pending = self.states.pending()
        if pending:
            self.check_bucket()
        for state in pending:
            try:
                results.append(self.upload_flight(state.flight_dir))
            except (InputError, IntegrityError) as exc:
                errors.append((state.flight_id, exc))
            except DroneAgentError as exc:  # the store or this computer: the rest would fail too
                errors.append((state.flight_id, exc))
                break
        return results, errors
