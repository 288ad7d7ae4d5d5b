"""Post-flight upload to an S3-compatible evidence store, retention, embedded SeaweedFS.

Public API::

    from drone_agent.store import (EmbeddedStore, StoreConfig, resolve_store, make_client,
                                   Uploader, StateDir, enqueue_flight, init_bucket, mark_evidential)
"""

from drone_agent.store.config import StoreConfig, resolve_store
from drone_agent.store.embedded import EmbeddedStore
from drone_agent.store.s3io import Retry, make_client
from drone_agent.store.state import StateDir
from drone_agent.store.uploader import FlightResult, Uploader

__all__ = [
    "EmbeddedStore",
    "FlightResult",
    "Retry",
    "StateDir",
    "StoreConfig",
    "Uploader",
    "make_client",
    "resolve_store",
]
