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

The S3 side of steps 3, 4 and 6 (sending, settling ambiguous outcomes, reading back) is
:class:`~drone_agent.store.transfer.Transfer`. Transient failures are retried a few times
(:class:`~drone_agent.store.s3io.Retry`); beyond that the run stops with a one-line
EnvironmentFault and the state on disk lets the next run continue.
Nothing local is deleted unless step 6 finished for every file in the same run or an earlier one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_agent.errors import DroneAgentError, EnvironmentFault, InputError, IntegrityError
from drone_agent.store import plan
from drone_agent.store.config import StoreConfig
from drone_agent.store.plan import FileDigest, FlightInfo
from drone_agent.store.progress import NullProgress, Progress
from drone_agent.store.s3io import Retry, translate
from drone_agent.store.state import FlightState, StateDir
from drone_agent.store.transfer import Transfer, in_parallel

Verifier = Callable[[Path], Any]  # -> report with .intact: bool and .problems: list[str]
AuditOpener = Callable[[Path], Callable[..., Any]]  # flight_dir -> append(event, **fields)
Summarizer = Callable[[Path], FlightInfo]


@dataclass(frozen=True, slots=True)
class FlightResult:
    """Summary of one flight's upload run."""

    flight_id: str
    status: str  # state status after the run
    store: str
    key_prefix: str
    location: str  # s3://BUCKET/KEY_PREFIX: what verify/decrypt take to work on the store's copy
    files_total: int
    files_sent: int
    bytes_total: int
    bytes_sent: int
    seconds: float
    deleted_local: bool

    @property
    def mb_per_s(self) -> float:
        return self.bytes_sent / 1e6 / self.seconds if self.seconds > 0 else 0.0


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
        self.states = states
        self._verify = verify
        self._audit_for = audit_for
        self._summarize = summarize
        self.progress: Progress = progress or NullProgress()
        self._clock = clock
        self.transfer = Transfer(cfg, client, retry, self.progress)

    # -- one flight ------------------------------------------------------------------------
    def upload_flight(self, flight_dir: Path) -> FlightResult:
        """Run the steps of the module doc for one flight (queueing it first); resumes from the
        state on disk. Raises the one-line drone-agent error of the first failure."""
        flight_dir = Path(flight_dir).resolve()
        started = self._clock()
        self.transfer.reset_counts()
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
        self.transfer.check_bucket()
        relpaths = plan.flight_files(flight_dir)
        data_paths = [r for r in relpaths if r != plan.AUDIT_FILE]
        total = sum((flight_dir / r).stat().st_size for r in relpaths)
        self.progress.flight_started(state.flight_id, len(relpaths), total)
        first_run = state.status == "queued" and not state.files
        state.set_status("uploading", last_error=None)
        try:
            try:
                digests = self._upload_and_verify(flight_dir, flight, state, data_paths,
                                                  may_exist=not first_run)
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
        outcome = f"{result.files_total} objects verified at {result.location}; sent {result.files_sent}"
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
            location=f"s3://{self.cfg.bucket}/{prefix}",
            files_total=len(digests),
            files_sent=self.transfer.files_sent,
            bytes_total=sum(d.size_bytes for d in digests),
            bytes_sent=self.transfer.bytes_sent,
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
        self, flight_dir: Path, flight: FlightInfo, state: FlightState, relpaths: list[str],
        *, may_exist: bool,
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
                    self.transfer.abort(key, st["upload_id"])
                state.reset_file(relpath, key=key, sha256=digest.sha256_hex,
                                 size=digest.size_bytes, uploaded=False)
            self.transfer.send(flight_dir, flight, state, digest, key, write_once=True,
                               may_exist=may_exist)
            digests[relpath] = digest

        threshold = self.cfg.multipart_threshold_bytes
        large = [r for r in relpaths if (flight_dir / r).stat().st_size >= threshold]
        small = [r for r in relpaths if r not in large]
        in_parallel([lambda r=r: job(r) for r in small], self.cfg.part_concurrency)
        for relpath in large:
            job(relpath)
        ordered = [digests[r] for r in relpaths]
        for digest in ordered:
            self.transfer.read_back(digest, state.file(digest.relpath)["key"])
        return ordered

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
        self.transfer.send(flight_dir, flight, state, digest, key, write_once=False)
        self.transfer.read_back(digest, key)
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
            self.transfer.check_bucket()
        for state in pending:
            try:
                results.append(self.upload_flight(state.flight_dir))
            except (InputError, IntegrityError) as exc:
                errors.append((state.flight_id, exc))
            except DroneAgentError as exc:  # the store or this computer: the rest would fail too
                errors.append((state.flight_id, exc))
                break
        return results, errors
