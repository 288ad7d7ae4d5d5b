"""Retention and access: bucket set-up (``store init``), marking evidence, the example policy.

``init_bucket`` creates the bucket if needed (with object lock, which most stores only allow at
creation), enables versioning, installs two lifecycle rules next to any existing ones --

* ``drone-agent-expire-non-evidential``: objects tagged ``evidential=no`` expire ``retention_days``
  (default 31) days after they were written (S3 counts from the upload; the ``capture_utc`` tag
  records the capture time), their old versions one day later;
* ``drone-agent-abort-incomplete-uploads``: multipart uploads abandoned for 7 days are removed --

and then probes, with a throw-away object, what the store really does: SHA-256 checksums, tags,
conditional writes (``If-None-Match``), legal hold. Each finding is a :class:`Capability`; what is not
supported is reported, not hidden.

``mark_evidential`` re-tags a flight's objects ``evidential=yes`` (so the expiry rule no longer
matches) and places a legal hold on them where the bucket has object lock, then writes a small JSON
record of who marked what and why under the flight's ``_marks/`` (DPA 2018 s.62 logging).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from drone_agent.errors import InputError
from drone_agent.store import plan
from drone_agent.store.config import StoreConfig
from drone_agent.store.s3io import RERUN_HINT, Retry, error_code, http_status, translate

EXPIRE_RULE_ID = "drone-agent-expire-non-evidential"
ABORT_RULE_ID = "drone-agent-abort-incomplete-uploads"
MEDIA_DIRS = ("segments/", "stills/")
MARKS_DIR = "_marks/"


@dataclass(frozen=True, slots=True)
class Capability:
    name: str
    supported: bool
    detail: str


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lifecycle_rules(cfg: StoreConfig) -> list[dict[str, Any]]:
    """The two lifecycle rules drone-agent owns (see module doc)."""
    tag = {"Key": "evidential", "Value": "no"}
    prefix = f"{cfg.prefix}/" if cfg.prefix else ""
    expire_filter: dict[str, Any] = (
        {"And": {"Prefix": prefix, "Tags": [tag]}} if prefix else {"Tag": tag}
    )
    return [
        {
            "ID": EXPIRE_RULE_ID,
            "Status": "Enabled",
            "Filter": expire_filter,
            "Expiration": {"Days": cfg.retention_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": ABORT_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": prefix},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]


class _Probe:
    """Runs one S3 call; unsupported-feature answers become False, others drone-agent errors."""

    UNSUPPORTED = {"NotImplemented", "InvalidRequest", "MethodNotAllowed", "501",
                   "ObjectLockConfigurationNotFoundError", "InvalidBucketState",
                   "NoSuchLifecycleConfiguration", "NoSuchObjectLockConfiguration"}

    def __init__(self, cfg: StoreConfig, retry: Retry) -> None:
        self.cfg = cfg
        self.retry = retry

    def __call__(self, doing: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, self.retry.call(fn)
        except ClientError as exc:
            if error_code(exc) in self.UNSUPPORTED or str(http_status(exc)) in self.UNSUPPORTED:
                return False, f"{error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}"
            raise translate(exc, self.cfg, doing) from exc
        except Exception as exc:
            raise translate(exc, self.cfg, doing) from exc


def init_bucket(
    client: Any, cfg: StoreConfig, *, object_lock: bool = True, retry: Retry = Retry()
) -> list[Capability]:
    """Set the bucket up for evidence and report what the store supports (module doc)."""
    call = _Probe(cfg, retry)
    bucket = cfg.bucket
    caps: list[Capability] = []
    try:
        retry.call(lambda: client.head_bucket(Bucket=bucket))
        caps.append(Capability("bucket", True, f"'{bucket}' exists"))
    except ClientError as exc:
        if http_status(exc) != 404:
            raise translate(exc, cfg, f"checking the bucket '{bucket}'") from exc
        kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": object_lock}
        if cfg.region and cfg.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
        ok, why = call(f"creating the bucket '{bucket}'", lambda: client.create_bucket(**kwargs))
        if not ok and object_lock:
            kwargs.pop("ObjectLockEnabledForBucket")
            ok, why = call(f"creating the bucket '{bucket}'", lambda: client.create_bucket(**kwargs))
        if not ok:
            raise InputError(f"could not create bucket '{bucket}': {why}", "create it with the store's tools")
        caps.append(Capability("bucket", True, f"'{bucket}' created"))
    except Exception as exc:
        raise translate(exc, cfg, f"checking the bucket '{bucket}'") from exc

    ok, why = call("enabling versioning", lambda: client.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}))
    if ok:
        _, got = call("reading versioning", lambda: client.get_bucket_versioning(Bucket=bucket))
        ok = isinstance(got, dict) and got.get("Status") == "Enabled"
        why = "enabled" if ok else f"the store reports {got.get('Status') if isinstance(got, dict) else got}"
    caps.append(Capability("versioning", ok, why if ok else f"not supported ({why})"))

    caps.append(_install_lifecycle(client, cfg, call))

    ok, got = call("reading object lock", lambda: client.get_object_lock_configuration(Bucket=bucket))
    lock_on = ok and got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
    caps.append(Capability(
        "object lock", lock_on,
        "enabled on the bucket" if lock_on else
        "not enabled on this bucket (most stores allow it only when the bucket is created): "
        "evidential objects get tags but no legal hold; versioning still keeps every version",
    ))
    caps += _probe_objects(client, cfg, call, lock_on)
    return caps


def _install_lifecycle(client: Any, cfg: StoreConfig, call: _Probe) -> Capability:
    ok, got = call("reading lifecycle rules",
                   lambda: client.get_bucket_lifecycle_configuration(Bucket=cfg.bucket))
    existing = got.get("Rules", []) if ok and isinstance(got, dict) else []
    rules = [r for r in existing if r.get("ID") not in (EXPIRE_RULE_ID, ABORT_RULE_ID)]
    rules += lifecycle_rules(cfg)
    try:
        client.put_bucket_lifecycle_configuration(
            Bucket=cfg.bucket, LifecycleConfiguration={"Rules": rules})
    except ClientError as exc:
        if error_code(exc) in _Probe.UNSUPPORTED or http_status(exc) == 501:
            return Capability("lifecycle expiry", False,
                              f"not supported ({error_code(exc)}): non-evidential objects will NOT "
                              f"expire after {cfg.retention_days} days; delete them by other means")
        raise translate(exc, cfg, "installing lifecycle rules") from exc
    except Exception as exc:
        raise translate(exc, cfg, "installing lifecycle rules") from exc
    ok, got = call("reading lifecycle rules",
                   lambda: client.get_bucket_lifecycle_configuration(Bucket=cfg.bucket))
    ids = {r.get("ID") for r in got.get("Rules", [])} if ok and isinstance(got, dict) else set()
    ok = {EXPIRE_RULE_ID, ABORT_RULE_ID} <= ids
    return Capability(
        "lifecycle expiry", ok,
        f"objects tagged evidential=no expire {cfg.retention_days} days after upload"
        if ok else "rules accepted but not read back: check the store's lifecycle support",
    )


def _probe_objects(client: Any, cfg: StoreConfig, call: _Probe, lock_on: bool) -> list[Capability]:
    bucket = cfg.bucket
    key = "/".join(p for p in (cfg.prefix, "_drone-agent-probe", uuid.uuid4().hex) if p)
    body = b"drone-agent store init probe\n"
    caps = []
    try:
        ok, got = call("writing a probe object", lambda: client.put_object(
            Bucket=bucket, Key=key, Body=body, ChecksumSHA256=plan.b64_digest(body),
            Tagging="evidential=no"))
        if not ok:
            raise InputError(f"the store refused a PUT with a SHA-256 checksum: {got}",
                             "use a store that supports S3 additional checksums")
        _, head = call("reading the probe back",
                       lambda: client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
        checks = head.get("ChecksumSHA256") == plan.b64_digest(body)
        caps.append(Capability(
            "SHA-256 checksums", checks,
            "verified on upload and reported on read-back" if checks else
            "the store does not report SHA-256 checksums: uploads cannot be verified and local "
            "copies will never be deleted"))
        ok, tags = call("reading probe tags", lambda: client.get_object_tagging(Bucket=bucket, Key=key))
        tagged = ok and {"Key": "evidential", "Value": "no"} in tags.get("TagSet", [])
        caps.append(Capability("object tags", tagged, "stored" if tagged else
                               "not stored: the retention rule cannot tell evidence apart"))
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            cond, detail = False, ("ignored: a retried PUT can leave a second identical version "
                                   "(harmless, but versions are not write-once)")
        except ClientError as exc:
            cond = http_status(exc) == 412
            detail = "If-None-Match honoured (write-once objects)" if cond else error_code(exc)
        caps.append(Capability("conditional writes", cond, detail))
        if lock_on:
            ok, why = call("placing a legal hold", lambda: client.put_object_legal_hold(
                Bucket=bucket, Key=key, LegalHold={"Status": "ON"}))
            if ok:
                _, got = call("reading the legal hold",
                              lambda: client.get_object_legal_hold(Bucket=bucket, Key=key))
                ok = got.get("LegalHold", {}).get("Status") == "ON"
                call("lifting the probe's legal hold", lambda: client.put_object_legal_hold(
                    Bucket=bucket, Key=key, LegalHold={"Status": "OFF"}))
            caps.append(Capability("legal hold", ok, "placed on evidential objects by "
                                   "'drone-agent mark evidential'" if ok else f"not supported ({why})"))
        else:
            caps.append(Capability("legal hold", False, "needs object lock on the bucket"))
    finally:
        _delete_all_versions(client, bucket, key)
    return caps


def _delete_all_versions(client: Any, bucket: str, key: str) -> None:
    try:
        versions = client.list_object_versions(Bucket=bucket, Prefix=key)
        for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if item["Key"] == key:
                client.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
    except ClientError:
        return


@dataclass(frozen=True, slots=True)
class MarkResult:
    flight_id: str
    keys: tuple[str, ...]
    legal_hold: bool
    record_key: str


def find_flight_prefix(client: Any, cfg: StoreConfig, flight_id: str, retry: Retry = Retry()) -> str:
    """The ``<prefix>/<operation>/<flight_id>/`` that holds ``flight_id``; InputError if none."""
    root = f"{cfg.prefix}/" if cfg.prefix else ""
    try:
        paginator = client.get_paginator("list_objects_v2")
        operations = [
            cp["Prefix"]
            for page in paginator.paginate(Bucket=cfg.bucket, Prefix=root, Delimiter="/")
            for cp in page.get("CommonPrefixes", [])
        ]
        for op in operations:
            candidate = f"{op}{flight_id}/"
            resp = retry.call(lambda c=candidate: client.list_objects_v2(
                Bucket=cfg.bucket, Prefix=c, MaxKeys=1))
            if resp.get("KeyCount", 0):
                return candidate
    except Exception as exc:
        raise translate(exc, cfg, f"looking for flight {flight_id}") from exc
    raise InputError(
        f"flight {flight_id} not found in {cfg.describe()}",
        "check the flight id (folder name, e.g. 20261124T101500Z-3f9a1c2b) and the store",
    )


def select_keys(keys: Sequence[str], flight_prefix: str, segments: Sequence[str]) -> list[str]:
    """The keys to mark: the named segments/stills (all when none named) plus every non-media file
    (manifest, audit log, telemetry: what is needed to verify them). InputError for unknown names."""
    rel = {k: k[len(flight_prefix):] for k in keys
           if not k[len(flight_prefix):].startswith(plan.STORE_RECORD_DIRS)}
    media = [k for k, r in rel.items() if r.startswith(MEDIA_DIRS)]
    chosen = [k for k in rel if k not in media]
    if not segments:
        return sorted(chosen + media)
    def names(key: str) -> set[str]:
        path = rel[key]
        base = path.rsplit("/", 1)[-1]
        return {path, base, base.split(".", 1)[0], path.split(".", 1)[0]}

    for name in segments:
        hits = [k for k in media if name in names(k)]
        if not hits:
            choices = ", ".join(sorted(rel[k].split(".", 1)[0] for k in media))
            raise InputError(f"no segment or still '{name}' in this flight",
                             f"choose from: {choices or 'none (the flight has no media)'}")
        chosen += hits
    return sorted(set(chosen))


def mark_evidential(
    client: Any, cfg: StoreConfig, flight_id: str, segments: Sequence[str] = (), *,
    by: str, reason: str, retry: Retry = Retry(),
) -> MarkResult:
    """Tag ``evidential=yes`` and place legal holds (module doc); returns what was marked."""
    prefix = find_flight_prefix(client, cfg, flight_id, retry)
    try:
        paginator = client.get_paginator("list_objects_v2")
        keys = [o["Key"] for page in paginator.paginate(Bucket=cfg.bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
    except Exception as exc:
        raise translate(exc, cfg, f"listing flight {flight_id}") from exc
    chosen = select_keys(keys, prefix, segments)
    marked_utc = _utc_now()
    call = _Probe(cfg, retry)
    # Only a bucket with object lock can hold (some stores accept a hold elsewhere and ignore it).
    ok, got = call("reading object lock",
                   lambda: client.get_object_lock_configuration(Bucket=cfg.bucket))
    legal_hold = ok and got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
    for key in chosen:
        _, got = call(f"reading the tags of {key}",
                      lambda k=key: client.get_object_tagging(Bucket=cfg.bucket, Key=k))
        tags = {t["Key"]: t["Value"] for t in got.get("TagSet", [])} if isinstance(got, dict) else {}
        tags.update(evidential="yes", marked_utc=marked_utc)
        call(f"tagging {key}", lambda k=key, t=tags: client.put_object_tagging(
            Bucket=cfg.bucket, Key=k,
            Tagging={"TagSet": [{"Key": a, "Value": b} for a, b in sorted(t.items())]}))
        if legal_hold:
            legal_hold, _ = call(f"placing a legal hold on {key}", lambda k=key: (
                client.put_object_legal_hold(Bucket=cfg.bucket, Key=k, LegalHold={"Status": "ON"})))
    record = {
        "event": "mark_evidential", "utc": marked_utc, "flight_id": flight_id, "by": by,
        "reason": reason, "segments": list(segments), "keys": chosen, "legal_hold": legal_hold,
    }
    record_key = write_flight_record(client, cfg, prefix, MARKS_DIR, record, {"evidential": "yes"}, retry)
    if legal_hold:
        call("placing a legal hold on the mark record", lambda: client.put_object_legal_hold(
            Bucket=cfg.bucket, Key=record_key, LegalHold={"Status": "ON"}))
    return MarkResult(flight_id, tuple(chosen), legal_hold, record_key)


def write_flight_record(client: Any, cfg: StoreConfig, flight_prefix: str, folder: str,
                        record: dict[str, Any], tags: dict[str, str], retry: Retry = Retry()) -> str:
    """Store a JSON record of who did what to a flight (DPA 2018 s.62) under the flight's
    ``folder`` (``_marks/``, ``_access/``); returns its key. Raises (one line) if the store refuses:
    the caller must not act unlogged."""
    utc = record.setdefault("utc", _utc_now())
    key = f"{flight_prefix}{folder}{utc.replace(':', '')}-{uuid.uuid4().hex[:8]}.json"
    body = json.dumps(record, indent=1, sort_keys=True).encode() + b"\n"
    flight_tag = {"flight_id": plan.tag_value(str(record.get("flight_id", "")))}
    try:
        retry.call(lambda: client.put_object(
            Bucket=cfg.bucket, Key=key, Body=body, ChecksumSHA256=plan.b64_digest(body),
            Tagging=plan.tagging_header({**tags, **flight_tag}), ContentType="application/json"))
    except Exception as exc:
        raise translate(exc, cfg, f"writing the {record.get('event', 'access')} record {key}",
                        RERUN_HINT) from exc
    return key


def example_bucket_policy(
    bucket: str, prefix: str, operation: str, uploader_arn: str, officer_arns: Sequence[str]
) -> dict[str, Any]:
    """An S3 bucket policy: the uploader writes (and may read sizes/checksums back) but cannot
    read content or delete; the investigating officers of one operation read it and may mark it
    evidential, and nobody deletes through this policy (lifecycle expiry does)."""
    root = f"{prefix}/" if prefix else ""
    op_prefix = f"{root}{plan.slug(operation)}/"
    objects = f"arn:aws:s3:::{bucket}/{root}*"
    op_objects = f"arn:aws:s3:::{bucket}/{op_prefix}*"
    bucket_arn = f"arn:aws:s3:::{bucket}"
    officers = {"AWS": list(officer_arns)}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "UploaderWritesEvidence", "Effect": "Allow",
             "Principal": {"AWS": uploader_arn},
             "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:GetObjectAttributes",
                        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
             "Resource": objects},
            {"Sid": "UploaderChecksUploads", "Effect": "Allow",
             "Principal": {"AWS": uploader_arn},
             "Action": ["s3:ListBucketMultipartUploads"], "Resource": bucket_arn},
            {"Sid": "UploaderCannotReadOrDelete", "Effect": "Deny",
             "Principal": {"AWS": uploader_arn},
             "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject",
                        "s3:DeleteObjectVersion", "s3:PutObjectLegalHold", "s3:ListBucket",
                        "s3:ListBucketVersions", "s3:PutLifecycleConfiguration",
                        "s3:PutBucketPolicy", "s3:BypassGovernanceRetention"],
             "Resource": [bucket_arn, f"arn:aws:s3:::{bucket}/*"]},
            {"Sid": "OfficersReadTheirOperation", "Effect": "Allow", "Principal": officers,
             "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
                        "s3:GetObjectAttributes", "s3:GetObjectLegalHold"],
             "Resource": op_objects},
            {"Sid": "OfficersListTheirOperation", "Effect": "Allow", "Principal": officers,
             "Action": ["s3:ListBucket"], "Resource": bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": [f"{root}", f"{op_prefix}*"]}}},
            {"Sid": "OfficersMarkEvidential", "Effect": "Allow", "Principal": officers,
             "Action": ["s3:PutObjectTagging", "s3:PutObjectLegalHold"], "Resource": op_objects},
            {"Sid": "OfficersRecordMarksAndConsultations", "Effect": "Allow", "Principal": officers,
             "Action": ["s3:PutObject", "s3:PutObjectTagging"],
             "Resource": [f"arn:aws:s3:::{bucket}/{op_prefix}*/{folder}*" for folder in plan.STORE_RECORD_DIRS]},
            {"Sid": "NobodyDeletesEvidenceByHand", "Effect": "Deny", "Principal": officers,
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, f"arn:aws:s3:::{bucket}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }
