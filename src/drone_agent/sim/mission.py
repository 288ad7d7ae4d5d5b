"""The MAVLink mission protocol as ArduPilot's MissionItemProtocol_Fence speaks it (sans-IO).

Theory of operation
-------------------
One :class:`FenceTransfer` per vehicle. Upload: MISSION_COUNT(mission_type FENCE) opens a transfer
with that link; the vehicle asks for item 0, 1, ... with MISSION_REQUEST (the real vehicle used
MISSION_REQUEST, not _INT, in the fixture exchange), accepts MISSION_ITEM_INT or MISSION_ITEM for
the expected seq (anything else re-requests the expected one), re-sends the request if nothing
arrives for ``RESEND_S`` and gives up after ``TIMEOUT_S`` (MISSION_ACK OPERATION_CANCELLED). After
the last item the whole list is validated (AC_PolyFence_loader rules, :mod:`.fence`): MISSION_ACK
ACCEPTED and "Fence Indexed OK", or MISSION_ACK ERROR and the loader's STATUSTEXTs. A count of 0
clears the fence. Items with unsupported frames or commands are refused as ArduPilot does.
Download: MISSION_REQUEST_LIST → MISSION_COUNT; MISSION_REQUEST_INT / MISSION_REQUEST → the stored
item with altitude 0 and autocontinue 0. MISSION_CLEAR_ALL clears. Missions (type 0) and rally
points (type 2) are not simulated: uploads are refused with MAV_MISSION_UNSUPPORTED and downloads
return just the home item / nothing.

``handle(msg, now_s)`` returns ``(replies, statustexts, accepted_items_or_None)``; ``poll(now_s)``
returns resends/timeouts. Messages are pymavlink message objects; no sockets, no clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.sim.fence import (ACCEPTED_FRAMES, FENCE_COMMANDS, MAX_ITEMS, FenceItem,
                                   validate_items)

MISSION_TYPE_MISSION = 0
MISSION_TYPE_FENCE = 1
RESEND_S = 1.0
TIMEOUT_S = 8.0

Reply = mavlink.MAVLink_message
Texts = list[tuple[int, str]]


@dataclass(slots=True)
class _Upload:
    sysid: int
    compid: int
    count: int
    items: list[FenceItem] = field(default_factory=list)
    last_rx_s: float = 0.0
    last_tx_s: float = 0.0


class FenceTransfer:
    """Fence upload/download state of one vehicle; knows the stored fence."""

    __slots__ = ("items", "_upload", "home_lat_e7", "home_lon_e7", "home_alt_m")

    def __init__(self, home_lat_e7: int, home_lon_e7: int, home_alt_m: float) -> None:
        self.items: tuple[FenceItem, ...] = ()
        self._upload: _Upload | None = None
        self.home_lat_e7 = home_lat_e7
        self.home_lon_e7 = home_lon_e7
        self.home_alt_m = home_alt_m

    def _request(self, up: _Upload, now_s: float) -> Reply:
        up.last_tx_s = now_s
        return mavlink.MAVLink_mission_request_message(up.sysid, up.compid, len(up.items),
                                                       MISSION_TYPE_FENCE)

    @staticmethod
    def _ack(sysid: int, compid: int, result: int, mission_type: int) -> Reply:
        return mavlink.MAVLink_mission_ack_message(sysid, compid, result, mission_type)

    def handle(self, msg: Reply, now_s: float
               ) -> tuple[list[Reply], Texts, tuple[FenceItem, ...] | None]:
        kind = msg.get_type()
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        mtype = getattr(msg, "mission_type", MISSION_TYPE_MISSION)
        if kind == "MISSION_COUNT":
            if mtype != MISSION_TYPE_FENCE:
                return [self._ack(*src, mavlink.MAV_MISSION_UNSUPPORTED, mtype)], [], None
            if msg.count == 0:
                self._upload = None
                self.items = ()
                return [self._ack(*src, mavlink.MAV_MISSION_ACCEPTED, mtype)], [], ()
            if msg.count > MAX_ITEMS:
                return [self._ack(*src, mavlink.MAV_MISSION_NO_SPACE, mtype)], [], None
            self._upload = _Upload(src[0], src[1], msg.count, last_rx_s=now_s)
            return [self._request(self._upload, now_s)], [], None
        if kind in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            return self._item(msg, src, now_s)
        if kind == "MISSION_REQUEST_LIST":
            count = len(self.items) if mtype == MISSION_TYPE_FENCE else (
                1 if mtype == MISSION_TYPE_MISSION else 0)
            return [mavlink.MAVLink_mission_count_message(src[0], src[1], count, mtype)], [], None
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            return self._send_item(msg, src, kind == "MISSION_REQUEST_INT"), [], None
        if kind == "MISSION_CLEAR_ALL":
            if mtype == MISSION_TYPE_FENCE:
                self.items = ()
                return [self._ack(*src, mavlink.MAV_MISSION_ACCEPTED, mtype)], [], ()
            return [self._ack(*src, mavlink.MAV_MISSION_ACCEPTED, mtype)], [], None
        return [], [], None

    def _item(self, msg: Reply, src: tuple[int, int], now_s: float
              ) -> tuple[list[Reply], Texts, tuple[FenceItem, ...] | None]:
        up = self._upload
        if msg.mission_type != MISSION_TYPE_FENCE or up is None:
            return [], [], None
        if msg.seq != len(up.items):
            return [self._request(up, now_s)], [], None
        if msg.frame not in ACCEPTED_FRAMES:
            self._upload = None
            return [self._ack(*src, mavlink.MAV_MISSION_UNSUPPORTED_FRAME, 1)], [], None
        if msg.command not in FENCE_COMMANDS:
            self._upload = None
            return [self._ack(*src, mavlink.MAV_MISSION_UNSUPPORTED, 1)], [], None
        if msg.command in (5001, 5002) and msg.param1 > 255:
            self._upload = None
            return [self._ack(*src, mavlink.MAV_MISSION_INVALID_PARAM1, 1)], [], None
        if msg.get_type() == "MISSION_ITEM_INT":
            lat_e7, lon_e7 = int(msg.x), int(msg.y)
        else:
            lat_e7, lon_e7 = round(msg.x * 1e7), round(msg.y * 1e7)
        param1 = float(msg.param1) if msg.command != 5000 else 0.0
        up.items.append(FenceItem(msg.command, param1, lat_e7, lon_e7))
        up.last_rx_s = now_s
        if len(up.items) < up.count:
            return [self._request(up, now_s)], [], None
        self._upload = None
        problems = validate_items(up.items)
        if problems:
            return ([self._ack(*src, mavlink.MAV_MISSION_ERROR, 1)],
                    [(4, text) for text in problems], None)
        self.items = tuple(up.items)
        return ([self._ack(*src, mavlink.MAV_MISSION_ACCEPTED, 1)], [(7, "Fence Indexed OK")],
                self.items)

    def _send_item(self, msg: Reply, src: tuple[int, int], as_int: bool) -> list[Reply]:
        mtype = msg.mission_type
        if mtype == MISSION_TYPE_MISSION and msg.seq == 0:
            item = FenceItem(mavlink.MAV_CMD_NAV_WAYPOINT, 0.0, self.home_lat_e7, self.home_lon_e7)
            z = self.home_alt_m
        elif mtype == MISSION_TYPE_FENCE and msg.seq < len(self.items):
            item, z = self.items[msg.seq], 0.0
        else:
            return [self._ack(*src, mavlink.MAV_MISSION_INVALID_SEQUENCE, mtype)]
        if as_int:
            return [mavlink.MAVLink_mission_item_int_message(
                src[0], src[1], msg.seq, mavlink.MAV_FRAME_GLOBAL, item.command, 0, 0,
                item.param1, 0, 0, 0, item.lat_e7, item.lon_e7, z, mtype)]
        return [mavlink.MAVLink_mission_item_message(
            src[0], src[1], msg.seq, mavlink.MAV_FRAME_GLOBAL, item.command, 0, 0,
            item.param1, 0, 0, 0, item.lat_e7 * 1e-7, item.lon_e7 * 1e-7, z, mtype)]

    def poll(self, now_s: float) -> list[Reply]:
        """Re-request a missing item, or cancel a stalled upload."""
        up = self._upload
        if up is None:
            return []
        if now_s - up.last_rx_s > TIMEOUT_S:
            self._upload = None
            return [self._ack(up.sysid, up.compid, mavlink.MAV_MISSION_OPERATION_CANCELLED, 1)]
        if now_s - up.last_tx_s > RESEND_S:
            return [self._request(up, now_s)]
        return []

