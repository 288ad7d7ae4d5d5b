"""Bring a flight back from the evidence store, so ``verify`` and ``decrypt`` check the store's copy.

A flight in the store is addressed by the location ``drone-agent upload`` printed,
``s3://BUCKET/[PREFIX/]OPERATION/FLIGHT_ID`` (bucket and key prefix are also in the flight's audit
record ``upload``); endpoint and credentials come
from the configured store (``--store``, a profile's ``[store]``, the stores file's default, or the
AWS environment). :func:`fetch_flight` downloads every object of the flight except the store-side
records (``_marks/``, ``_access/``) into a private temporary folder laid out as the flight folder
was on the aircraft; verification and decryption then run on those bytes, so the verdict is about
what the store holds.

Decrypting evidence is a *consultation* (DPA 2018 s.62): :func:`record_consultation` writes who,
why and which objects under the flight's ``_access/`` in the store before a byte is decrypted; if
the store refuses the record, nothing is decrypted.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from drone_agent.errors import InputError, IntegrityError
from drone_agent.store import retention
from drone_agent.store.config import StoreConfig
from drone_agent.store.plan import STORE_RECORD_DIRS
from drone_agent.store.s3io import RERUN_HINT, Retry, translate

URL_SCHEME = "s3://"
ACCESS_DIR = "_access/"
COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class StoreFlight:
    """A flight folder in the store: ``bucket`` and ``key_prefix`` (ends with ``/``)."""

    bucket: str
    key_prefix: str

    @property
    def url(self) -> str:
        return f"{URL_SCHEME}{self.bucket}/{self.key_prefix}"

    @property
    def folder_name(self) -> str:
        return PurePosixPath(self.key_prefix).name


@dataclass(frozen=True, slots=True)
class FetchedFlight:
    flight_dir: Path
    objects: int
    bytes: int


def is_store_url(text: str) -> bool:
    return text.startswith(URL_SCHEME)


def parse_store_url(text: str) -> StoreFlight:
    """``s3://BUCKET/PATH/TO/FLIGHT_ID`` -> StoreFlight; InputError for anything else."""
    bucket, _, key = text[len(URL_SCHEME):].partition("/") if is_store_url(text) else ("", "", "")
    parts = [p for p in key.split("/") if p]
    if not bucket or not parts or any(p in (".", "..") for p in parts):
        raise InputError(f"{text}: not a flight location in a store",
                         "give it as 'drone-agent upload' printed it: "
                         "s3://BUCKET/[PREFIX/]OPERATION/FLIGHT_ID")
    return StoreFlight(bucket, "/".join(parts) + "/")


def _relative_path(flight: StoreFlight, key: str) -> PurePosixPath:
    rel = PurePosixPath(key[len(flight.key_prefix):])
    if rel.is_absolute() or not rel.parts or any(p in (".", "..") for p in rel.parts):
        raise IntegrityError(f"{flight.url}: object key {key!r} does not name a file inside the flight",
                             "report it to the store administrator; nothing was verified")
    return rel


def list_flight_keys(client: Any, cfg: StoreConfig, flight: StoreFlight, retry: Retry) -> list[str]:
    """The flight's own objects (store-side records excluded); InputError if there is no flight."""
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=flight.bucket,
                                                                  Prefix=flight.key_prefix)
        keys = retry.call(lambda: [o["Key"] for page in pages for o in page.get("Contents", [])])
    except Exception as exc:
        raise translate(exc, cfg, f"listing {flight.url}", RERUN_HINT) from exc
    own = [k for k in keys if not k[len(flight.key_prefix):].startswith(STORE_RECORD_DIRS)]
    names = {k[len(flight.key_prefix):] for k in own}
    if not names & {"manifest.jsonl", "audit.jsonl"}:
        raise InputError(f"no flight at {flight.url} in {cfg.describe()} (no manifest.jsonl or audit.jsonl)",
                         "give the location 'drone-agent upload' printed: "
                         "s3://BUCKET/[PREFIX/]OPERATION/FLIGHT_ID")
    return sorted(own)


def fetch_flight(client: Any, cfg: StoreConfig, flight: StoreFlight, dest_root: Path,
                 retry: Retry = Retry()) -> FetchedFlight:
    """Download the flight into ``dest_root/<FLIGHT_ID>/`` (created, mode 0700)."""
    keys = list_flight_keys(client, cfg, flight, retry)
    target = dest_root / flight.folder_name
    target.mkdir(mode=0o700, parents=True)
    total = 0
    for key in keys:
        path = target.joinpath(*_relative_path(flight, key).parts)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

        def download(key: str = key, path: Path = path) -> int:
            body = client.get_object(Bucket=flight.bucket, Key=key)["Body"]
            with path.open("wb") as out:
                shutil.copyfileobj(body, out, COPY_CHUNK_BYTES)
                return out.tell()

        try:
            total += retry.call(download)
        except Exception as exc:
            raise translate(exc, cfg, f"downloading {URL_SCHEME}{flight.bucket}/{key}", RERUN_HINT) from exc
    return FetchedFlight(target, len(keys), total)


def record_consultation(client: Any, cfg: StoreConfig, flight: StoreFlight, *, flight_id: str,
                        who: str, reason: str, keys: list[str], retry: Retry = Retry()) -> str:
    """Write the consultation record under the flight's ``_access/``; returns its key."""
    record = {"event": "consultation", "action": "decrypt", "flight_id": flight_id, "who": who,
              "reason": reason, "objects": keys, "host": os.uname().nodename}
    return retention.write_flight_record(client, cfg, flight.key_prefix, ACCESS_DIR, record,
                                         {"record": "consultation"}, retry)
