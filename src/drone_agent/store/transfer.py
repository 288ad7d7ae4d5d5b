"""Moving one file into the store and proving it arrived: the S3 half of the uploader.

:class:`Transfer` sends a hashed file (one PUT with ``ChecksumSHA256`` and ``If-None-Match: *``, or
a multipart upload with a SHA-256 per part whose upload id and acknowledged parts are recorded in
the flight's state as they happen), settles ambiguous outcomes (a retried request whose first
attempt landed: 412 or NoSuchUpload, then the object is accepted only if its checksum is ours),
and reads objects back (size and the store's own SHA-256 / COMPOSITE checksum). See
:mod:`drone_agent.store.uploader` for the order of the steps.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from drone_agent.errors import DroneAgentError, IntegrityError
from drone_agent.store import plan
from drone_agent.store.config import StoreConfig
from drone_agent.store.plan import FileDigest, FlightInfo
from drone_agent.store.progress import Progress
from drone_agent.store.s3io import Retry, error_code, http_status, translate
from drone_agent.store.state import FlightState


@dataclass(frozen=True, slots=True)
class ObjectStat:
    """What the store says it holds under a key."""

    size_bytes: int
    checksum_sha256: str | None  # as the store reports it ("b64" or COMPOSITE "b64-N")
    metadata_sha256: str | None
    part_size_bytes: int | None
    version_id: str | None


def stat_matches(digest: FileDigest, stat: ObjectStat) -> bool:
    """True when the store's size and checksum prove it holds exactly the hashed bytes."""
    if stat.size_bytes != digest.size_bytes or stat.checksum_sha256 is None:
        return False
    if stat.metadata_sha256 is not None and stat.metadata_sha256 != digest.sha256_hex:
        return False
    return stat.checksum_sha256 == digest.expected_checksum


def in_parallel(jobs: list[Callable[[], None]], workers: int) -> None:
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


class Transfer:
    """S3 calls for one store: send files, read them back (see module doc). Thread-safe."""

    def __init__(self, cfg: StoreConfig, client: Any, retry: Retry, progress: Progress) -> None:
        self.cfg = cfg
        self.client = client
        self._retry = retry
        self.progress = progress
        self._attributes_report_checksum: bool | None = None
        self._count_lock = threading.Lock()
        self.bytes_sent = 0
        self.files_sent = 0

    def reset_counts(self) -> None:
        with self._count_lock:
            self.bytes_sent = self.files_sent = 0

    def call(self, doing: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` with retries; failures as one drone-agent error saying what was being done."""
        try:
            return self._retry.call(fn)
        except Exception as exc:
            raise translate(exc, self.cfg, doing) from exc

    def check_bucket(self) -> None:
        """One request proving endpoint, credentials and bucket (permitted to an uploader)."""
        self.call(
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

    def read_back(self, digest: FileDigest, key: str) -> ObjectStat:
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

    def send(
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, digest: FileDigest,
        key: str, *, write_once: bool, may_exist: bool = True,
    ) -> None:
        """Put ``digest``'s file under ``key`` unless the store holds it already. ``write_once``:
        a different object under the key is an IntegrityError (else a new version is written).
        ``may_exist=False`` (a flight's first run) skips asking first; If-None-Match still
        guards the write."""
        st = state.file(digest.relpath)
        self.progress.file_started(digest.relpath, digest.size_bytes)
        if st.get("uploaded"):
            self.progress.advanced(digest.relpath, digest.size_bytes)
            self.progress.file_finished(digest.relpath, "already in the store")
            return
        if may_exist and not st.get("upload_id"):
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
            self.bytes_sent += nbytes
            self.files_sent += files

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

    def abort(self, key: str, upload_id: str) -> None:
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
                self.abort(key, upload["UploadId"])

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
            resp = self.call(
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

        in_parallel([lambda n=n: send(n) for n in todo], self.cfg.part_concurrency)

