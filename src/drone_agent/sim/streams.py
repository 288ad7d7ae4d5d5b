"""Per-link telemetry rates: SET_MESSAGE_INTERVAL, REQUEST_DATA_STREAM and the defaults.

Theory of operation
-------------------
ArduPilot keeps message rates per link (channel). :class:`LinkStreams` holds, for one link, the
interval of every streamed message id and when each is next due on the vehicle clock.
``set_interval`` implements MAV_CMD_SET_MESSAGE_INTERVAL (interval in µs; -1 stops, 0 restores the
default); ``request_stream`` implements REQUEST_DATA_STREAM with ArduPilot's stream groups;
``due(now_s)`` returns the ids to send now and schedules the next send one interval later (without
drift: due times advance by whole intervals, and skip forward if the link fell behind). A newly set
interval is aligned to the vehicle clock's grid, so messages asked for at the same rate go out in the
same physics step, SIM_STATE and the gimbal status first: a receiver can pair SIM_STATE (which has no
timestamp) with the ``time_boot_ms`` of the ATTITUDE that follows it in that step. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

HEARTBEAT = 0
SYS_STATUS = 1
SYSTEM_TIME = 2
GPS_RAW_INT = 24
ATTITUDE = 30
LOCAL_POSITION_NED = 32
GLOBAL_POSITION_INT = 33
VFR_HUD = 74
SIM_STATE = 108
TERRAIN_REPORT = 136
FENCE_STATUS = 162
EKF_STATUS_REPORT = 193
HOME_POSITION = 242
GIMBAL_DEVICE_ATTITUDE_STATUS = 285

STREAMABLE = frozenset({HEARTBEAT, SYS_STATUS, SYSTEM_TIME, GPS_RAW_INT, ATTITUDE,
                        LOCAL_POSITION_NED, GLOBAL_POSITION_INT, VFR_HUD, SIM_STATE,
                        TERRAIN_REPORT, FENCE_STATUS, EKF_STATUS_REPORT, HOME_POSITION,
                        GIMBAL_DEVICE_ATTITUDE_STATUS})

# Rates (Hz) a link gets before it asks for anything: like MAVProxy's usual stream request.
DEFAULT_RATES_HZ: Mapping[int, float] = {
    HEARTBEAT: 1.0, SYS_STATUS: 1.0, GPS_RAW_INT: 1.0, ATTITUDE: 4.0, GLOBAL_POSITION_INT: 4.0,
    VFR_HUD: 4.0, EKF_STATUS_REPORT: 1.0, FENCE_STATUS: 1.0, TERRAIN_REPORT: 1.0,
    GIMBAL_DEVICE_ATTITUDE_STATUS: 4.0,
}

# ArduPilot's REQUEST_DATA_STREAM groups (GCS_MAVLink stream tables, messages this sim has).
STREAM_GROUPS: Mapping[int, tuple[int, ...]] = {
    2: (SYS_STATUS, GPS_RAW_INT, FENCE_STATUS),  # EXTENDED_STATUS
    6: (GLOBAL_POSITION_INT, LOCAL_POSITION_NED),  # POSITION
    10: (ATTITUDE, SIM_STATE),  # EXTRA1
    11: (VFR_HUD,),  # EXTRA2
    12: (TERRAIN_REPORT, EKF_STATUS_REPORT, GIMBAL_DEVICE_ATTITUDE_STATUS, SYSTEM_TIME),  # EXTRA3
}


# SIM_STATE has no time_boot_ms: sent before the step's timestamped messages (then the gimbal
# status, then ATTITUDE & co.), a receiver can stamp it with the time of the messages that follow.
_SEND_FIRST: Mapping[int, int] = {SIM_STATE: 0, GIMBAL_DEVICE_ATTITUDE_STATUS: 1}


class LinkStreams:
    """Message intervals and due times for one link."""

    __slots__ = ("_interval_s", "_next_s")

    def __init__(self) -> None:
        self._interval_s: dict[int, float] = {k: 1.0 / v for k, v in DEFAULT_RATES_HZ.items()}
        self._next_s: dict[int, float] = {k: 0.0 for k in self._interval_s}

    def interval_s(self, msg_id: int) -> float | None:
        return self._interval_s.get(msg_id)

    def set_interval(self, msg_id: int, interval_us: float, now_s: float) -> bool:
        """MAV_CMD_SET_MESSAGE_INTERVAL; False if the message cannot be streamed."""
        if msg_id not in STREAMABLE:
            return False
        if interval_us < 0:
            self._interval_s.pop(msg_id, None)
            self._next_s.pop(msg_id, None)
            return True
        if interval_us == 0:
            rate = DEFAULT_RATES_HZ.get(msg_id)
            if rate is None:
                self._interval_s.pop(msg_id, None)
                self._next_s.pop(msg_id, None)
                return True
            interval = 1.0 / rate
        else:
            interval = max(interval_us * 1e-6, 0.002)
        self._interval_s[msg_id] = interval
        # align to the vehicle clock's grid: messages at equal rates go out in the same step
        self._next_s[msg_id] = math.ceil(now_s / interval - 1e-9) * interval
        return True

    def request_stream(self, stream_id: int, rate_hz: float, start: bool, now_s: float) -> None:
        """REQUEST_DATA_STREAM (stream 0 = all groups)."""
        groups = STREAM_GROUPS.values() if stream_id == 0 else [STREAM_GROUPS.get(stream_id, ())]
        for group in groups:
            for msg_id in group:
                if start and rate_hz > 0:
                    self.set_interval(msg_id, 1e6 / rate_hz, now_s)
                else:
                    self.set_interval(msg_id, -1, now_s)

    def due(self, now_s: float) -> list[int]:
        """Ids due now, untimestamped truth (SIM_STATE) and gimbal first, then the rest."""
        out = []
        for msg_id, next_s in self._next_s.items():
            if now_s + 1e-9 >= next_s:
                out.append(msg_id)
                interval = self._interval_s[msg_id]
                nxt = next_s + interval
                self._next_s[msg_id] = nxt if nxt > now_s else now_s + interval
        out.sort(key=lambda mid: _SEND_FIRST.get(mid, 2))
        return out

    def next_due_s(self) -> float:
        return min(self._next_s.values(), default=float("inf"))
