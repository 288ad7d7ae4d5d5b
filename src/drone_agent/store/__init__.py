"""Post-flight upload to an S3-compatible evidence store, retention, embedded SeaweedFS.

Public API::

    from drone_agent.store import (EmbeddedStore, StoreConfig, resolve_store, make_client, Retry,
                                   Uploader, FlightResult, StateDir, enqueue_flight,
                                   init_bucket, mark_evidential, example_bucket_policy)

    with EmbeddedStore(data_dir) as store: ...        # SeaweedFS on 127.0.0.1, own credentials
    enqueue_flight(flight_dir)                        # the agent, after landing
    Uploader(cfg, make_client(cfg), StateDir(dir), verify=..., audit_for=..., summarize=...)
"""

from __future__ import annotations

from pathlib import Path

from drone_agent.store.config import StoreConfig, default_state_dir, resolve_store
from drone_agent.store.embedded import EmbeddedStore
from drone_agent.store.retention import example_bucket_policy, init_bucket, mark_evidential
from drone_agent.store.s3io import Retry, make_client
from drone_agent.store.state import StateDir
from drone_agent.store.uploader import FlightResult, Uploader


def enqueue_flight(flight_dir: Path | str, state_dir: Path | str | None = None) -> None:
    """Put a closed flight on the upload queue (``drone-agent upload --all`` sends it later)."""
    StateDir(Path(state_dir) if state_dir else default_state_dir()).enqueue(Path(flight_dir))


__all__ = [
    "EmbeddedStore",
    "FlightResult",
    "Retry",
    "StateDir",
    "StoreConfig",
    "Uploader",
    "enqueue_flight",
    "example_bucket_policy",
    "init_bucket",
    "make_client",
    "mark_evidential",
    "resolve_store",
]
