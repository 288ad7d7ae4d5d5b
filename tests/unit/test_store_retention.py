"""Retention rules, choice of objects to mark evidential, the example access policy."""

from __future__ import annotations

import json

import pytest

from drone_agent.errors import InputError
from drone_agent.store.config import StoreConfig
from drone_agent.store.retention import example_bucket_policy, lifecycle_rules, select_keys

P = "kent/op-kestrel/F1/"
KEYS = [P + k for k in ("audit.jsonl", "manifest.jsonl", "segments/000001.mp4.age",
                        "segments/000002.mp4.age", "stills/000001.jpg.age", "telemetry.tlog",
                        "_marks/2026-11-24T101500Z-ab.json", "_access/2026-11-25T090000Z-cd.json")]


def test_lifecycle_expires_only_non_evidential_under_prefix() -> None:
    rules = lifecycle_rules(StoreConfig(bucket="evidence", prefix="kent", retention_days=31))
    expire = rules[0]
    assert expire["Filter"] == {"And": {"Prefix": "kent/", "Tags": [{"Key": "evidential", "Value": "no"}]}}
    assert expire["Expiration"] == {"Days": 31} and expire["Status"] == "Enabled"
    assert rules[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    no_prefix = lifecycle_rules(StoreConfig(bucket="evidence", retention_days=28))[0]
    assert no_prefix["Filter"] == {"Tag": {"Key": "evidential", "Value": "no"}}
    assert no_prefix["Expiration"] == {"Days": 28}


def test_select_all_but_mark_records() -> None:
    assert select_keys(KEYS, P, []) == sorted(KEYS[:-2])


def test_select_named_segments_keeps_what_verifies_them() -> None:
    chosen = select_keys(KEYS, P, ["000002", "stills/000001"])
    rel = [k[len(P):] for k in chosen]
    assert rel == ["audit.jsonl", "manifest.jsonl", "segments/000002.mp4.age",
                   "stills/000001.jpg.age", "telemetry.tlog"]
    assert select_keys(KEYS, P, ["000002.mp4.age"]) == select_keys(KEYS, P, ["segments/000002"])


def test_unknown_segment_lists_choices() -> None:
    with pytest.raises(InputError, match="no segment or still '000009'"):
        select_keys(KEYS, P, ["000009"])


def _actions(stmt: dict) -> set[str]:
    actions = stmt["Action"]
    return set([actions] if isinstance(actions, str) else actions)


def test_policy_uploader_writes_but_cannot_read_or_delete() -> None:
    policy = example_bucket_policy("evidence", "kent", "Op Kestrel", "arn:aws:iam::1:user/up",
                                   ["arn:aws:iam::1:user/dc-smith"])
    json.dumps(policy)
    up = [s for s in policy["Statement"] if s["Principal"] == {"AWS": "arn:aws:iam::1:user/up"}]
    allowed = set().union(*(_actions(s) for s in up if s["Effect"] == "Allow"))
    denied = set().union(*(_actions(s) for s in up if s["Effect"] == "Deny"))
    assert "s3:PutObject" in allowed and "s3:GetObjectAttributes" in allowed
    assert {"s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= denied
    assert not allowed & {"s3:GetObject", "s3:DeleteObject"}


def test_policy_officers_read_only_their_operation() -> None:
    policy = example_bucket_policy("evidence", "kent", "Op Kestrel", "arn:up", ["arn:dc1", "arn:dc2"])
    officer = [s for s in policy["Statement"] if s["Principal"] == {"AWS": ["arn:dc1", "arn:dc2"]}]
    reads = [s for s in officer if "s3:GetObject" in _actions(s)]
    assert reads and all(s["Resource"] == "arn:aws:s3:::evidence/kent/op-kestrel/*" for s in reads)
    for stmt in officer:
        if stmt["Effect"] == "Allow":
            assert "s3:DeleteObject" not in _actions(stmt)
    assert any(s["Effect"] == "Deny" and "s3:DeleteObject" in _actions(s) for s in officer)


def test_policy_officers_may_write_only_mark_and_consultation_records() -> None:
    policy = example_bucket_policy("evidence", "kent", "Op Kestrel", "arn:up", ["arn:dc1"])
    writes = [s for s in policy["Statement"]
              if s["Principal"] == {"AWS": ["arn:dc1"]} and "s3:PutObject" in _actions(s)]
    assert len(writes) == 1 and writes[0]["Effect"] == "Allow"
    assert writes[0]["Resource"] == ["arn:aws:s3:::evidence/kent/op-kestrel/*/_marks/*",
                                     "arn:aws:s3:::evidence/kent/op-kestrel/*/_access/*"]
