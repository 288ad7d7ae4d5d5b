"""Evidence trigger: start/stop events from every source, RC switch edges, no double starts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.capture.trigger import EvidenceTrigger, RcSwitch, RcSwitchConfig, TriggerEvent

T0 = datetime(2026, 11, 24, 10, 15, tzinfo=timezone.utc)
MAV = mavlink.MAVLink(None)


def _ids():
    counter = iter(range(1, 100))
    return lambda: f"t{next(counter)}"


def test_pilot_start_stop_emits_audit_events() -> None:
    events: list[TriggerEvent] = []
    trigger = EvidenceTrigger(events.append, incident_ref="KP-2026-0042", id_factory=_ids())
    assert not trigger.active
    start = trigger.start("pilot", T0, operator="PC 1234 Smith", reason="suspect vehicle")
    assert trigger.active and trigger.trigger_id == "t1"
    assert start is not None and start.as_dict() == {
        "kind": "trigger_start",
        "trigger_id": "t1",
        "source": "pilot",
        "operator": "PC 1234 Smith",
        "reason": "suspect vehicle",
        "incident_ref": "KP-2026-0042",
        "utc": "2026-11-24T10:15:00Z",
    }
    fields = start.audit_fields()
    assert "kind" not in fields and "utc" not in fields and fields["event_utc"] == "2026-11-24T10:15:00Z"
    stop = trigger.stop("pilot", T0 + timedelta(seconds=30), operator="PC 1234 Smith", reason="done")
    assert stop is not None and stop.kind == "trigger_stop" and stop.trigger_id == "t1"
    assert stop.utc == "2026-11-24T10:15:30Z"
    assert events == [start, stop] and not trigger.active


def test_repeated_start_and_idle_stop_are_no_ops() -> None:
    events: list[TriggerEvent] = []
    trigger = EvidenceTrigger(events.append, id_factory=_ids())
    assert trigger.stop("mavlink", T0) is None
    trigger.start("mavlink", T0, operator="gcs 255/190")
    assert trigger.start("mavlink", T0) is None  # retransmitted VIDEO_START_CAPTURE
    assert trigger.start("pilot", T0) is None
    assert trigger.trigger_id == "t1" and len(events) == 1
    # the last command wins whatever its source
    assert trigger.stop("rc", T0) is not None and not trigger.active
    assert trigger.start("pilot", T0) is not None and trigger.trigger_id == "t2"


def test_still_uses_current_trigger_or_its_own_id() -> None:
    trigger = EvidenceTrigger(id_factory=_ids(), incident_ref="INC-1")
    alone = trigger.still("mavlink", T0)
    assert alone.kind == "still_captured" and alone.trigger_id == "t1" and alone.incident_ref == "INC-1"
    trigger.start("pilot", T0)
    assert trigger.still("pilot", T0).trigger_id == trigger.trigger_id == "t2"


def test_bad_source_and_naive_time_rejected() -> None:
    trigger = EvidenceTrigger()
    with pytest.raises(ValueError, match="source"):
        trigger.start("radio", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone"):
        trigger.start("pilot", datetime(2026, 1, 1))


def _rc(channel_value: int, chancount: int = 8, channel: int = 7) -> mavlink.MAVLink_rc_channels_message:
    values = [1500] * 18
    values[channel - 1] = channel_value
    return MAV.rc_channels_encode(1000, chancount, *values, 255)


def test_rc_switch_edges_with_hysteresis() -> None:
    events: list[TriggerEvent] = []
    trigger = EvidenceTrigger(events.append, id_factory=_ids())
    switch = RcSwitch(RcSwitchConfig(channel=7, threshold_us=1700, hysteresis_us=50), trigger)
    assert switch.on_message(_rc(1100), T0) is None  # baseline
    assert switch.on_message(_rc(1720), T0) is None  # inside the band: nothing
    start = switch.on_message(_rc(1900), T0)
    assert start is not None and start.source == "rc" and start.operator == "rc channel 7"
    assert switch.on_message(_rc(1900), T0) is None
    assert switch.on_message(_rc(1680), T0) is None  # band again
    stop = switch.on_message(_rc(1000), T0)
    assert stop is not None and stop.kind == "trigger_stop"
    assert [e.kind for e in events] == ["trigger_start", "trigger_stop"]


def test_rc_switch_already_on_at_start_does_not_record() -> None:
    trigger = EvidenceTrigger()
    switch = RcSwitch(RcSwitchConfig(channel=7), trigger)
    assert switch.on_message(_rc(1950), T0) is None and not trigger.active
    switch.on_message(_rc(1000), T0)
    assert switch.on_message(_rc(1950), T0) is not None and trigger.active


def test_rc_switch_active_low_and_invalid_values() -> None:
    trigger = EvidenceTrigger()
    switch = RcSwitch(RcSwitchConfig(channel=3, threshold_us=1300, active_high=False), trigger)
    switch.on_message(_rc(1900, channel=3), T0)
    assert switch.on_message(_rc(65535, channel=3), T0) is None  # channel not present
    assert switch.on_message(_rc(0, channel=3), T0) is None
    assert switch.on_message(_rc(1000, channel=3, chancount=2), T0) is None  # too few channels
    assert switch.on_message(_rc(1000, channel=3), T0) is not None and trigger.active
    assert switch.on_message(MAV.heartbeat_encode(6, 8, 0, 0, 0), T0) is None
    with pytest.raises(ValueError):
        RcSwitch(RcSwitchConfig(channel=19), trigger)
