"""COMMAND_LONG → COMMAND_ACK, and flight-mode changes confirmed by the HEARTBEAT.

Theory of operation
-------------------
:class:`CommandLong` sends one COMMAND_LONG to the autopilot and waits for the COMMAND_ACK that
names the same command and is addressed to us (or broadcast). Without an ACK within
``timeout_s`` it re-sends with ``confirmation`` increased by one (MAVLink command protocol), up to
``retries`` times, then fails with :class:`~drone_agent.agent.errors.LinkTimeout`. ACK results:

======================  ============================================================
ACCEPTED                 done
IN_PROGRESS              keep waiting (the deadline becomes ``in_progress_timeout_s``)
anything else            :class:`~drone_agent.agent.errors.CommandRejected` with the result's
                         own message and the autopilot's STATUSTEXT as detail (e.g. "Arm: Need
                         Position Estimate"). ArduPilot sends that text right *after* the ACK, so
                         the session waits ``statustext_grace_s`` (0.2 s) for it before failing
======================  ============================================================

:class:`ModeChange` is MAV_CMD_DO_SET_MODE (custom mode, ArduCopter numbering) followed by a
second phase: the change counts only when a HEARTBEAT from the autopilot reports the new
``custom_mode``. ArduPilot can ACK a mode and still fall back (e.g. "ArduPilot Ready" resets to
STABILIZE), so the ACK alone is never trusted.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.ardupilot import COPTER_MODES, mode_name
from drone_agent.agent.errors import CommandRejected, LinkTimeout, command_name
from drone_agent.agent.session import Message, Outgoing, Peer, Session
from drone_agent.errors import InputError


class CommandLong(Session[None]):
    """One COMMAND_LONG with ACK handling and retries."""

    def __init__(
        self,
        peer: Peer,
        command: int,
        params: tuple[float, ...] = (),
        *,
        timeout_s: float = 1.0,
        retries: int = 3,
        in_progress_timeout_s: float = 10.0,
        statustext_grace_s: float = 0.2,
    ) -> None:
        super().__init__()
        if len(params) > 7:
            raise ValueError("COMMAND_LONG has 7 parameters")
        self.peer = peer
        self.command = command
        self.params = tuple(float(p) for p in params) + (0.0,) * (7 - len(params))
        self.timeout_s = timeout_s
        self.retries = retries
        self.in_progress_timeout_s = in_progress_timeout_s
        self.confirmation = 0
        self.statustext_grace_s = statustext_grace_s
        self.last_statustext = ""
        self._rejected: int | None = None

    def _message(self) -> Message:
        return mavlink.MAVLink_command_long_message(
            self.peer.target_system,
            self.peer.target_component,
            self.command,
            self.confirmation,
            *self.params,
        )

    def start(self, now_s: float) -> Outgoing:
        self.deadline_s = now_s + self.timeout_s
        return [self._message()]

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or msg.get_srcSystem() != self.peer.target_system:
            return []
        kind = msg.get_type()
        if kind == "STATUSTEXT":
            self.last_statustext = msg.text
            if self._rejected is not None:
                return self._fail(CommandRejected(self.command, self._rejected, msg.text))
            return []
        if self._rejected is not None:
            return []
        if kind != "COMMAND_ACK" or msg.command != self.command or not self.peer.is_from_target(msg):
            return []
        if not self.peer.is_for_us(msg):
            return []
        if msg.result == mavlink.MAV_RESULT_ACCEPTED:
            return self._finish(None)
        if msg.result == mavlink.MAV_RESULT_IN_PROGRESS:
            self.deadline_s = now_s + self.in_progress_timeout_s
            return []
        self._rejected = msg.result
        self.deadline_s = now_s + self.statustext_grace_s
        return []

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self.deadline_s is None or now_s < self.deadline_s:
            return []
        if self._rejected is not None:
            return self._fail(CommandRejected(self.command, self._rejected, self.last_statustext))
        if self.confirmation >= self.retries:
            return self._fail(
                LinkTimeout(
                    f"{command_name(self.command)}: no COMMAND_ACK after "
                    f"{self.retries + 1} tries {self.timeout_s:g} s apart",
                    "check the link and that the autopilot's system/component id is right",
                )
            )
        self.confirmation += 1
        self.deadline_s = now_s + self.timeout_s
        return [self._message()]


class ModeChange(Session[None]):
    """Set an ArduCopter flight mode and confirm it from the HEARTBEAT's custom_mode."""

    def __init__(
        self,
        peer: Peer,
        mode: str,
        *,
        timeout_s: float = 1.0,
        retries: int = 3,
        confirm_timeout_s: float = 3.0,
    ) -> None:
        super().__init__()
        try:
            self.custom_mode = COPTER_MODES[mode.upper()]
        except KeyError:
            raise InputError(
                f"flight mode {mode!r} is not an ArduCopter mode",
                "use one of " + ", ".join(sorted(COPTER_MODES)),
            ) from None
        self.peer = peer
        self.mode = mode.upper()
        self.confirm_timeout_s = confirm_timeout_s
        self._command = CommandLong(
            peer,
            mavlink.MAV_CMD_DO_SET_MODE,
            (mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, self.custom_mode),
            timeout_s=timeout_s,
            retries=retries,
        )
        self._acked = False
        self.last_seen_mode: int | None = None

    def start(self, now_s: float) -> Outgoing:
        out = self._command.start(now_s)
        self.deadline_s = self._command.deadline_s
        return out

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done:
            return []
        if msg.get_type() == "HEARTBEAT" and self.peer.is_from_target(msg):
            self.last_seen_mode = msg.custom_mode
            if self._acked and msg.custom_mode == self.custom_mode:
                return self._finish(None)
            return []
        if self._acked:
            return []
        out = self._command.receive(msg, now_s)
        return out + self._after_command(now_s)

    def poll(self, now_s: float) -> Outgoing:
        if self._done:
            return []
        if self._acked:
            if self.deadline_s is not None and now_s >= self.deadline_s:
                seen = "none" if self.last_seen_mode is None else mode_name(self.last_seen_mode)
                return self._fail(
                    LinkTimeout(
                        f"mode {self.mode} accepted but the heartbeat still reports {seen} "
                        f"after {self.confirm_timeout_s:g} s",
                        "another client or a failsafe may have changed the mode",
                    )
                )
            return []
        out = self._command.poll(now_s)
        return out + self._after_command(now_s)

    def _after_command(self, now_s: float) -> Outgoing:
        if not self._command.done:
            self.deadline_s = self._command.deadline_s
            return []
        try:
            self._command.result()
        except (CommandRejected, LinkTimeout) as exc:
            return self._fail(exc)
        self._acked = True
        self.deadline_s = now_s + self.confirm_timeout_s
        return []
