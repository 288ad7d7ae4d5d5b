"""The evidence trigger: recording happens only while it is set.

Theory of operation
-------------------
``EvidenceTrigger`` is a sans-IO latch with one state, *idle* or *recording under trigger id T*.
Three sources drive it, all through the same two transitions:

* ``start(source, …)`` when idle → recording: a new trigger id, a ``trigger_start`` event;
  when already recording → nothing happens (the recording continues under the same id) and
  ``None`` is returned, so a retransmitted MAVLink command cannot split a recording.
* ``stop(source, …)`` when recording → idle with a ``trigger_stop`` event; when idle → ``None``.

The last command wins whatever its source: a ground station may stop what the pilot started.
Sources: ``pilot`` (key press in ``drone-agent fly``, with operator and reason),
``mavlink`` (VIDEO_START/STOP_CAPTURE through the camera component), ``rc`` (a switch on an RC
channel, see ``RcSwitch``). ``still(…)`` records a ``still_captured`` request (IMAGE_START_CAPTURE or
the pilot) under the current trigger id or its own id.

Every event goes to the ``on_event`` callback (the integrator appends it to the audit log with
``audit.append(event.kind, **event.audit_fields())``) and is also returned. The trigger never reads a clock: callers pass ``utc`` (timezone-aware) in.

``RcSwitch`` turns RC_CHANNELS into edges: the first valid reading only sets the baseline (a switch
already ON when the agent starts does **not** start a recording: it must be moved), then crossing
``threshold_us ± hysteresis_us`` in the active direction starts, crossing back stops. Values 0 and
65535 (channel not present) are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

TriggerSource = Literal["pilot", "mavlink", "rc"]
SOURCES = ("pilot", "mavlink", "rc")


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """One start, stop or still; ``kind`` is the audit event name."""

    kind: str  # trigger_start | trigger_stop | still_captured
    trigger_id: str
    source: str
    operator: str | None
    reason: str | None
    incident_ref: str | None
    utc: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def audit_fields(self) -> dict[str, Any]:
        """Keyword fields for ``AuditLog.append(event.kind, **fields)`` (the audit record has its
        own ``utc``, so the event's time goes in as ``event_utc``)."""
        fields = self.as_dict()
        del fields["kind"]
        fields["event_utc"] = fields.pop("utc")
        return fields


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _utc_text(utc: datetime) -> str:
    if utc.tzinfo is None or utc.utcoffset() is None:
        raise ValueError("trigger times must be timezone-aware UTC datetimes")
    return utc.isoformat().replace("+00:00", "Z")


class EvidenceTrigger:
    """Idle or recording; see the module docstring."""

    def __init__(
        self,
        on_event: Callable[[TriggerEvent], None] | None = None,
        *,
        incident_ref: str | None = None,
        id_factory: Callable[[], str] = _new_id,
    ) -> None:
        self._on_event = on_event
        self.incident_ref = incident_ref
        self._new_id = id_factory
        self.trigger_id: str | None = None
        self.source: str | None = None
        self.started_utc: datetime | None = None

    @property
    def active(self) -> bool:
        return self.trigger_id is not None

    def start(
        self,
        source: TriggerSource,
        utc: datetime,
        *,
        operator: str | None = None,
        reason: str | None = None,
        incident_ref: str | None = None,
    ) -> TriggerEvent | None:
        _check_source(source)
        if self.trigger_id is not None:
            return None
        self.trigger_id = self._new_id()
        self.source = source
        self.started_utc = utc
        return self._emit("trigger_start", self.trigger_id, source, operator, reason, incident_ref, utc)

    def stop(
        self,
        source: TriggerSource,
        utc: datetime,
        *,
        operator: str | None = None,
        reason: str | None = None,
    ) -> TriggerEvent | None:
        _check_source(source)
        if self.trigger_id is None:
            return None
        trigger_id, self.trigger_id, self.source, self.started_utc = self.trigger_id, None, None, None
        return self._emit("trigger_stop", trigger_id, source, operator, reason, None, utc)

    def still(
        self,
        source: TriggerSource,
        utc: datetime,
        *,
        operator: str | None = None,
        reason: str | None = None,
        incident_ref: str | None = None,
    ) -> TriggerEvent:
        _check_source(source)
        trigger_id = self.trigger_id or self._new_id()
        event = self._emit("still_captured", trigger_id, source, operator, reason, incident_ref, utc)
        assert event is not None
        return event

    def _emit(
        self,
        kind: str,
        trigger_id: str,
        source: str,
        operator: str | None,
        reason: str | None,
        incident_ref: str | None,
        utc: datetime,
    ) -> TriggerEvent:
        event = TriggerEvent(
            kind, trigger_id, source, operator, reason, incident_ref or self.incident_ref, _utc_text(utc)
        )
        if self._on_event is not None:
            self._on_event(event)
        return event


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown trigger source {source!r}; expected one of {SOURCES}")


@dataclass(frozen=True, slots=True)
class RcSwitchConfig:
    """Which RC channel (1–18) starts recording, and in which direction."""

    channel: int
    threshold_us: int = 1700
    active_high: bool = True
    hysteresis_us: int = 50


class RcSwitch:
    """Edge detector on one RC_CHANNELS channel driving an EvidenceTrigger."""

    def __init__(self, config: RcSwitchConfig, trigger: EvidenceTrigger) -> None:
        if not 1 <= config.channel <= 18:
            raise ValueError(f"RC channel {config.channel} outside 1..18")
        self.config = config
        self.trigger = trigger
        self._on: bool | None = None

    def on_message(self, msg: Any, utc: datetime) -> TriggerEvent | None:
        """Feed an RC_CHANNELS message; returns the trigger event it caused, if any."""
        if msg.get_type() != "RC_CHANNELS" or msg.chancount < self.config.channel:
            return None
        value = int(getattr(msg, f"chan{self.config.channel}_raw"))
        if value in (0, 65535):
            return None
        c = self.config
        high = value >= c.threshold_us + c.hysteresis_us
        low = value <= c.threshold_us - c.hysteresis_us
        if not (high or low):
            return None  # inside the hysteresis band: keep the last state
        on = high if c.active_high else low
        previous, self._on = self._on, on
        if previous is None or previous == on:
            return None
        operator = f"rc channel {c.channel}"
        if on:
            return self.trigger.start("rc", utc, operator=operator, reason=f"RC switch {value} us")
        return self.trigger.stop("rc", utc, operator=operator, reason=f"RC switch {value} us")
