"""The error vocabulary shared by every part of drone-agent.

Each error says *who is at fault* and carries the process exit code the CLI uses for it, so a
failure deep inside a package reaches the user as one line and a documented exit code:

======  ===================  ==========================================================
 code    class                meaning
======  ===================  ==========================================================
 0       --                   success (flight permitted, evidence intact, upload verified)
 1       IntegrityError       evidence tampered with or incomplete; a demo step failed
 2       InputError           the user's input is invalid (file, option, key, zone)
 3       NotPermitted         the input is valid but the law/profile forbids the flight
 4       VehicleError         the aircraft or the MAVLink link refused, failed or went silent
 5       EnvironmentFault     the machine or a service: store unreachable, disk full, tool missing
 130     (KeyboardInterrupt)  interrupted by the user
======  ===================  ==========================================================
"""

from __future__ import annotations


class DroneAgentError(Exception):
    """Base class. ``message`` says what is wrong, ``hint`` what to do about it."""

    exit_code = 1
    who = "drone-agent"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = f"{self.who}: {self.message}"
        if self.hint:
            text += f" -- {self.hint}"
        return " ".join(text.split())


class IntegrityError(DroneAgentError):
    """Evidence does not verify: tampered, incomplete, or signed by an unknown key."""

    exit_code = 1
    who = "evidence"


class InputError(DroneAgentError):
    """The user's input is at fault (file, option, key, zone, profile)."""

    exit_code = 2
    who = "input"


class NotPermitted(DroneAgentError):
    """Input is valid but the flight (or action) is not permitted by law or the profile."""

    exit_code = 3
    who = "not permitted"


class VehicleError(DroneAgentError):
    """The aircraft or the link is at fault: refused command, timeout, lost link."""

    exit_code = 4
    who = "vehicle"


class EnvironmentFault(DroneAgentError):
    """The environment is at fault: store unreachable, disk full, missing tool, port in use."""

    exit_code = 5
    who = "environment"
