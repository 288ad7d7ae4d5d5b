"""Fence upload → download → compare with the MAVLink mission protocol (mission_type FENCE).

Theory of operation
-------------------
The fence the flight controller enforces is a list of mission items (commands 5001-5004):
polygon vertices carry the polygon's vertex count in ``param1`` and are sent consecutively;
circles carry the radius in metres. ArduPilot stores only lat/lon (1e-7 degrees) plus count or
radius and returns ``z = 0`` on download, so the comparison is made on exactly those fields, at
wire precision (integers, and float32 for ``param1``).

Upload (:class:`FenceUpload`)::

    agent                                   autopilot
    MISSION_COUNT(n, type=FENCE)   ──►
                                   ◄──   MISSION_REQUEST_INT(seq) or MISSION_REQUEST(seq)
    MISSION_ITEM_INT(seq)          ──►      ... for every seq the vehicle asks for ...
                                   ◄──   MISSION_ACK(type=FENCE, result)

  The vehicle drives the transfer; a repeated request is answered again. MISSION_ACK ACCEPTED
  after every item was requested is success; any other result fails with the result name and
  the vehicle's reason -- ArduPilot sends it as STATUSTEXT right *after* the ACK ("Invalid
  vertex count (2)", then or before "Fence validation failed"), so the session waits
  ``statustext_grace_s`` for it. No request
  within ``timeout_s`` re-sends MISSION_COUNT (before the first request) or waits again, up to
  ``retries`` times, then fails.

Download (:class:`FenceDownload`)::

    MISSION_REQUEST_LIST(type=FENCE) ──►
                                     ◄── MISSION_COUNT(n)
    MISSION_REQUEST_INT(seq)         ──►     (seq = 0 .. n-1, re-sent on timeout)
                                     ◄── MISSION_ITEM_INT(seq)
    MISSION_ACK(ACCEPTED)            ──►

:func:`compare_fence` returns a list of human-readable differences; empty means identical.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.errors import FenceSyncFailed
from drone_agent.agent.session import Message, Outgoing, Peer, Session
from drone_agent.errors import InputError

FENCE = mavlink.MAV_MISSION_TYPE_FENCE
KIND_COMMANDS = {
    "inclusion_polygon": mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    "exclusion_polygon": mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    "inclusion_circle": mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
    "exclusion_circle": mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
}
COMMAND_KINDS = {command: kind for kind, command in KIND_COMMANDS.items()}
MAX_POLYGON_VERTICES = 255


class FenceItemLike(Protocol):
    """What the geofence package's FenceItem offers (kind, points_deg, radius_m)."""

    kind: str
    points_deg: Sequence[tuple[float, float]]
    radius_m: float | None


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


@dataclass(frozen=True, slots=True)
class FenceWireItem:
    """One fence mission item as the flight controller stores it."""

    command: int
    param1: float  # vertex count (polygons) or radius in metres (circles), float32
    lat_e7: int
    lon_e7: int

    def describe(self) -> str:
        what = COMMAND_KINDS.get(self.command, f"command {self.command}")
        return f"{what} p1={self.param1:g} at {self.lat_e7 / 1e7:.7f},{self.lon_e7 / 1e7:.7f}"


def _e7(deg: float) -> int:
    return int(round(deg * 1e7))


def fence_items_to_wire(items: Iterable[FenceItemLike]) -> tuple[FenceWireItem, ...]:
    """Flatten polygons and circles into the mission items the fence protocol carries.

    Raises:
        InputError: an item of unknown kind, a polygon with fewer than 3 or more than 255
            vertices, or a circle without a positive radius.
    """
    out: list[FenceWireItem] = []
    for index, item in enumerate(items):
        command = KIND_COMMANDS.get(item.kind)
        if command is None:
            raise InputError(f"fence item {index}: unknown kind {item.kind!r}", "bug in geofence")
        points = list(item.points_deg)
        if item.kind.endswith("polygon"):
            if len(points) > 3 and points[0] == points[-1]:
                points.pop()
            if not 3 <= len(points) <= MAX_POLYGON_VERTICES:
                raise InputError(
                    f"fence item {index} ({item.kind}): {len(points)} vertices",
                    "ArduPilot needs 3 to 255 vertices per polygon",
                )
            out.extend(
                FenceWireItem(command, float(len(points)), _e7(lat), _e7(lon)) for lat, lon in points
            )
        else:
            if item.radius_m is None or not item.radius_m > 0 or len(points) != 1:
                raise InputError(
                    f"fence item {index} ({item.kind}): needs one centre and a radius > 0",
                    "bug in geofence",
                )
            lat, lon = points[0]
            out.append(FenceWireItem(command, _f32(item.radius_m), _e7(lat), _e7(lon)))
    return tuple(out)


def compare_fence(
    sent: Sequence[FenceWireItem], read_back: Sequence[FenceWireItem]
) -> list[str]:
    """Differences between what was uploaded and what the vehicle returned (empty = identical)."""
    problems: list[str] = []
    if len(sent) != len(read_back):
        problems.append(f"{len(sent)} items uploaded, {len(read_back)} read back")
    for seq, (ours, theirs) in enumerate(zip(sent, read_back)):
        if (ours.command, _f32(ours.param1), ours.lat_e7, ours.lon_e7) != (
            theirs.command,
            _f32(theirs.param1),
            theirs.lat_e7,
            theirs.lon_e7,
        ):
            problems.append(f"item {seq}: sent {ours.describe()}, read back {theirs.describe()}")
    return problems


def _mission_result_name(result: int) -> str:
    entry = mavlink.enums["MAV_MISSION_RESULT"].get(result)
    return entry.name if entry is not None else f"result {result}"


class FenceUpload(Session[None]):
    """Upload fence items; the vehicle requests each one."""

    def __init__(
        self,
        peer: Peer,
        items: Sequence[FenceWireItem],
        *,
        timeout_s: float = 1.5,
        retries: int = 5,
        statustext_grace_s: float = 0.2,
    ) -> None:
        super().__init__()
        self.peer = peer
        self.items = tuple(items)
        self.timeout_s = timeout_s
        self.retries = retries
        self.statustext_grace_s = statustext_grace_s
        self.requested: set[int] = set()
        self.statustexts: list[str] = []
        self._rejection: str | None = None
        self._tries = 0

    def _count(self) -> Message:
        return mavlink.MAVLink_mission_count_message(
            self.peer.target_system, self.peer.target_component, len(self.items), FENCE
        )

    def _item(self, seq: int) -> Message:
        item = self.items[seq]
        return mavlink.MAVLink_mission_item_int_message(
            self.peer.target_system,
            self.peer.target_component,
            seq,
            mavlink.MAV_FRAME_GLOBAL,
            item.command,
            0,
            1,
            item.param1,
            0.0,
            0.0,
            0.0,
            item.lat_e7,
            item.lon_e7,
            0.0,
            FENCE,
        )

    def start(self, now_s: float) -> Outgoing:
        self.deadline_s = now_s + self.timeout_s
        return [self._count()]

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or not self.peer.is_from_target(msg):
            return []
        kind = msg.get_type()
        if kind == "STATUSTEXT":
            self.statustexts.append(msg.text)
            return [] if self._rejection is None else self._reject()
        if self._rejection is not None:
            return []
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            if msg.mission_type != FENCE or not self.peer.is_for_us(msg):
                return []
            if not 0 <= msg.seq < len(self.items):
                return self._fail(
                    FenceSyncFailed(
                        f"fence upload: vehicle asked for item {msg.seq} of {len(self.items)}",
                        "retry the upload; if it repeats, the vehicle's fence storage is confused",
                    )
                )
            self.requested.add(msg.seq)
            self._tries = 0
            self.deadline_s = now_s + self.timeout_s
            return [self._item(msg.seq)]
        if kind == "MISSION_ACK" and msg.mission_type == FENCE and self.peer.is_for_us(msg):
            if msg.type == mavlink.MAV_MISSION_ACCEPTED and len(self.requested) == len(self.items):
                return self._finish(None)
            self._rejection = (
                _mission_result_name(msg.type)
                if msg.type != mavlink.MAV_MISSION_ACCEPTED
                else f"accepted after only {len(self.requested)} of {len(self.items)} items"
            )
            # ArduPilot explains a rejection in a STATUSTEXT sent just *after* the MISSION_ACK
            self.deadline_s = now_s + self.statustext_grace_s
        return []

    def _reject(self) -> Outgoing:
        texts = [t for t in self.statustexts if t != "Fence validation failed"] or self.statustexts
        detail = f": {texts[-1]}" if texts else ""
        return self._fail(
            FenceSyncFailed(
                f"fence upload rejected by the vehicle ({self._rejection}){detail}",
                "the fence is not in the flight controller; fix the zones and re-run",
            )
        )

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self.deadline_s is None or now_s < self.deadline_s:
            return []
        if self._rejection is not None:
            return self._reject()
        self._tries += 1
        if self._tries > self.retries:
            return self._fail(
                FenceSyncFailed(
                    f"fence upload timed out after {len(self.requested)} of "
                    f"{len(self.items)} items",
                    "check the link; the vehicle must speak MAVLink 2 (mission_type needs it)",
                )
            )
        self.deadline_s = now_s + self.timeout_s
        return [self._count()] if not self.requested else []


class FenceDownload(Session[tuple[FenceWireItem, ...]]):
    """Download the vehicle's fence items."""

    def __init__(self, peer: Peer, *, timeout_s: float = 1.5, retries: int = 5) -> None:
        super().__init__()
        self.peer = peer
        self.timeout_s = timeout_s
        self.retries = retries
        self.count: int | None = None
        self.items: list[FenceWireItem] = []
        self._tries = 0

    def _list(self) -> Message:
        return mavlink.MAVLink_mission_request_list_message(
            self.peer.target_system, self.peer.target_component, FENCE
        )

    def _request(self) -> Message:
        return mavlink.MAVLink_mission_request_int_message(
            self.peer.target_system, self.peer.target_component, len(self.items), FENCE
        )

    def _next(self, now_s: float) -> Outgoing:
        self._tries = 0
        if self.count is not None and len(self.items) >= self.count:
            ack = mavlink.MAVLink_mission_ack_message(
                self.peer.target_system,
                self.peer.target_component,
                mavlink.MAV_MISSION_ACCEPTED,
                FENCE,
            )
            self._finish(tuple(self.items))
            return [ack]
        self.deadline_s = now_s + self.timeout_s
        return [self._request()]

    def start(self, now_s: float) -> Outgoing:
        self.deadline_s = now_s + self.timeout_s
        return [self._list()]

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or not self.peer.is_from_target(msg) or not self.peer.is_for_us(msg):
            return []
        kind = msg.get_type()
        if getattr(msg, "mission_type", None) != FENCE:
            return []
        if kind == "MISSION_COUNT" and self.count is None:
            self.count = msg.count
            return self._next(now_s)
        if kind == "MISSION_ITEM_INT" and self.count is not None and msg.seq == len(self.items):
            self.items.append(FenceWireItem(msg.command, msg.param1, msg.x, msg.y))
            return self._next(now_s)
        if kind == "MISSION_ACK" and msg.type != mavlink.MAV_MISSION_ACCEPTED:
            return self._fail(
                FenceSyncFailed(
                    f"fence download refused ({_mission_result_name(msg.type)})",
                    "the fence in the flight controller cannot be verified; do not fly",
                )
            )
        return []

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self.deadline_s is None or now_s < self.deadline_s:
            return []
        self._tries += 1
        if self._tries > self.retries:
            return self._fail(
                FenceSyncFailed(
                    "fence download timed out"
                    + ("" if self.count is None else f" after {len(self.items)} of {self.count}"),
                    "check the link; the fence in the flight controller is unverified",
                )
            )
        self.deadline_s = now_s + self.timeout_s
        return [self._list() if self.count is None else self._request()]
