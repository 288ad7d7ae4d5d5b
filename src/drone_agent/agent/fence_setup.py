"""Put the operation's fence into the flight controller and prove it is there.

Theory of operation
-------------------
:func:`sync_fence` is a fixed sequence of sans-IO sessions, run by whatever drives them (the
:class:`~drone_agent.agent.link.Link` in flight, a scripted peer in tests)::

    read FENCE_*/AVOID_* names   (learn which exist on this firmware and their types)
    upload fence items           (mission protocol, mission_type FENCE)
    download fence items         → compare item by item at wire precision
    set parameters, FENCE_ENABLE last, each echo verified
    re-read every parameter      → compare with what was set

Every failure -- a rejected upload, a timeout, a read-back difference, a parameter the vehicle
refuses or reports differently -- becomes a line in ``SyncReport.problems``; the pre-flight gate
refuses to fly on any. Parameters the firmware does not have are listed in ``skipped`` (names
differ by version); a missing one that the flight controller's fence depends on is a problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from drone_agent.agent.fence_sync import (
    FenceDownload,
    FenceUpload,
    FenceWireItem,
    compare_fence,
    fence_items_to_wire,
)
from drone_agent.agent.params import ParamRead, ParamSet, as_float32
from drone_agent.agent.session import Peer, Session
from drone_agent.errors import VehicleError

T = TypeVar("T")
Runner = Callable[[Session[Any]], Any]
Audit = Callable[..., Any]
REQUIRED_PARAMS = ("FENCE_ENABLE", "FENCE_TYPE", "FENCE_ACTION", "FENCE_ALT_MAX")


@dataclass(frozen=True, slots=True)
class SyncReport:
    items_sent: tuple[FenceWireItem, ...]
    items_read_back: tuple[FenceWireItem, ...]
    params_read_back: Mapping[str, float | None]
    skipped: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def inclusion_items(self) -> int:
        return sum(1 for item in self.items_read_back if item.command in (5001, 5003))


def sync_fence(
    run: Runner,
    peer: Peer,
    items: Sequence[Any],
    params: Mapping[str, float],
    audit: Audit,
) -> SyncReport:
    """Upload, read back and compare the fence and its parameters (see module docstring)."""
    wire = fence_items_to_wire(items)
    names = tuple(dict.fromkeys((*params, *REQUIRED_PARAMS)))
    reader = ParamRead(peer, names)
    before = run(reader)
    skipped = tuple(name for name in params if before.get(name) is None)
    problems = [f"parameter {name} missing on this firmware" for name in REQUIRED_PARAMS
                if before.get(name) is None]
    if problems:
        return SyncReport(wire, (), before, skipped, tuple(problems))

    try:
        run(FenceUpload(peer, wire))
    except VehicleError as exc:
        audit("fence_upload", items=len(wire), accepted=False, reason=exc.message)
        return SyncReport(wire, (), before, skipped, (exc.message,))
    audit("fence_upload", items=len(wire), accepted=True)
    try:
        read_back = run(FenceDownload(peer))
    except VehicleError as exc:
        audit("fence_readback", identical=False, reason=exc.message)
        return SyncReport(wire, (), before, skipped, (exc.message,))
    differences = compare_fence(wire, read_back)
    audit("fence_readback", identical=not differences, items=len(read_back),
          differences=differences)
    if differences:
        return SyncReport(wire, read_back, before, skipped,
                          ("fence read back different: " + "; ".join(differences[:3]),))

    wanted = {name: value for name, value in params.items() if name not in skipped}
    ordered = {name: v for name, v in wanted.items() if name != "FENCE_ENABLE"}
    if "FENCE_ENABLE" in wanted:
        ordered["FENCE_ENABLE"] = wanted["FENCE_ENABLE"]
    try:
        run(ParamSet(peer, ordered, types=reader.types))
        after = run(ParamRead(peer, names))
    except VehicleError as exc:
        return SyncReport(wire, read_back, before, skipped, (exc.message,))
    for name, value in ordered.items():
        got = after.get(name)
        if got is None or as_float32(got) != as_float32(value):
            problems.append(f"parameter {name} reads back {got}, set {value:g}")
    audit("fence_params", set={k: float(v) for k, v in ordered.items()},
          read_back={k: after.get(k) for k in names}, skipped=list(skipped), problems=problems)
    return SyncReport(wire, read_back, after, skipped, tuple(problems))
