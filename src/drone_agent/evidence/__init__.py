"""Evidence: keys, sealing, manifest, tamper-evident audit log, verify, decrypt.

Public API (see /tmp/notes/contracts.md)::

    DeviceKey.load(path, passphrase=None)      EvidenceRecipient.load(path)
    FlightVault.create(out_dir, device_key=, recipient=, operation=)
    vault.seal_segment(bytes, meta) / seal_still / attach_file / close; vault.audit.append(...)
    AuditLog.open(flight_dir, device_key)      # post-flight records (upload, local_delete)
    verify_flight(flight_dir) -> VerifyReport(.intact, .complete, .problems)
    read_flight_summary(flight_dir) -> FlightSummary
"""

from drone_agent.evidence.audit import AuditLog
from drone_agent.evidence.keys import DeviceKey, EvidenceIdentity, EvidenceRecipient
from drone_agent.evidence.summary import FlightFile, FlightSummary, SealedMedia, read_flight_summary
from drone_agent.evidence.vault import FlightVault
from drone_agent.evidence.verify import Finding, VerifyReport, verify_flight

__all__ = [
    "AuditLog", "DeviceKey", "EvidenceIdentity", "EvidenceRecipient", "Finding", "FlightFile",
    "FlightSummary", "FlightVault", "SealedMedia", "VerifyReport", "read_flight_summary",
    "verify_flight",
]
