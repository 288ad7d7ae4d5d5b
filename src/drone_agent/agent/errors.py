"""Link and vehicle failures, each a :class:`~drone_agent.errors.VehicleError` (exit code 4).

Split by what went wrong so callers (and the pre-flight gate) can react precisely; every message
names the command/parameter/message involved and the hint says what to do next.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import VehicleError

MAV_RESULT_TEXT = {
    mavlink.MAV_RESULT_TEMPORARILY_REJECTED: (
        "temporarily rejected",
        "the vehicle is busy or not ready yet; wait and try again",
    ),
    mavlink.MAV_RESULT_DENIED: (
        "denied",
        "the vehicle refuses this command in its present state or with these parameters",
    ),
    mavlink.MAV_RESULT_UNSUPPORTED: (
        "unsupported",
        "this firmware does not implement the command; check the ArduPilot version",
    ),
    mavlink.MAV_RESULT_FAILED: (
        "failed",
        "the command was valid but could not be executed; read the vehicle's STATUSTEXT messages",
    ),
    6: ("cancelled", "the long-running command was cancelled"),  # MAV_RESULT_CANCELLED
    mavlink.MAV_RESULT_COMMAND_LONG_ONLY: (
        "must be sent as COMMAND_LONG",
        "this is a bug in drone-agent: report it",
    ),
    mavlink.MAV_RESULT_COMMAND_INT_ONLY: (
        "must be sent as COMMAND_INT",
        "this is a bug in drone-agent: report it",
    ),
    9: (  # MAV_RESULT_COMMAND_UNSUPPORTED_MAV_FRAME (newer common.xml than this pymavlink)
        "unsupported frame",
        "the vehicle does not support the coordinate frame used",
    ),
}


def command_name(command_id: int) -> str:
    entry = mavlink.enums["MAV_CMD"].get(command_id)
    return entry.name if entry is not None else f"command {command_id}"


class LinkTimeout(VehicleError):
    """The vehicle did not answer within the protocol's timeout and retries."""


class LinkLost(VehicleError):
    """No heartbeat from the autopilot for longer than the link-loss timeout."""


class CommandRejected(VehicleError):
    """COMMAND_ACK with a result other than ACCEPTED; ``result`` is the MAV_RESULT value."""

    def __init__(self, command_id: int, result: int, detail: str = "") -> None:
        text, hint = MAV_RESULT_TEXT.get(result, (f"result {result}", "see the MAV_RESULT enum"))
        message = f"{command_name(command_id)} {text} (MAV_RESULT {result})"
        if detail:
            message += f": {detail}"
        super().__init__(message, hint)
        self.command_id = command_id
        self.result = result


class ParameterMismatch(VehicleError):
    """A parameter could not be set, or reads back with another value."""


class FenceSyncFailed(VehicleError):
    """The fence upload or download was rejected, timed out, or read back different."""
