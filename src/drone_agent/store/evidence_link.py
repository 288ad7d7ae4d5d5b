"""The uploader's seams wired to the evidence package: flight summary and signed audit records
(verification is ``drone_agent.evidence.verify_flight`` itself)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError
from drone_agent.evidence import AuditLog, DeviceKey, read_flight_summary
from drone_agent.store.plan import FlightInfo


def summarize(flight_dir: Path) -> FlightInfo:
    """What the store tags and files objects by, from the flight's manifest."""
    summary = read_flight_summary(flight_dir)
    return FlightInfo(
        flight_id=summary.flight_id,
        operation_name=summary.operation_name or "unnamed-operation",
        incident_ref=summary.incident_ref or "none",
        started_utc=summary.started_utc,
    )


def audit_opener(device_key: Path | None, passphrase_env: str | None) -> Callable[[Path], Any]:
    """``flight_dir -> append(event, **fields)`` signing with the aircraft's device key, which is
    loaded now so a missing key or wrong passphrase stops the upload before it starts."""
    if device_key is None:
        raise InputError(
            "the flight's audit log must record the upload, which needs the device key",
            "pass --device-key PATH (the key that signed the flight) or set DRONE_AGENT_DEVICE_KEY",
        )
    passphrase = None
    if passphrase_env:
        if passphrase_env not in os.environ:
            raise InputError(f"environment variable {passphrase_env} is not set",
                             "export the device key passphrase in it")
        passphrase = os.environ[passphrase_env]
    return audit_for_key(DeviceKey.load(device_key, passphrase))


def audit_for_key(device_key: DeviceKey) -> Callable[[Path], Any]:
    """``flight_dir -> append(event, **fields)`` for an already loaded ``DeviceKey`` (demo, agent)."""
    def open_audit(flight_dir: Path) -> Callable[..., Any]:
        return AuditLog.open(flight_dir, device_key).append

    return open_audit
