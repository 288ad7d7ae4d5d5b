"""Thin IO adapter: run a CameraComponent on a pymavlink connection (UDP/TCP/serial string).

The agent's own link adapter may feed the component instead; this one serves a camera that has a
link of its own (a companion computer next to the autopilot, or tests over real sockets).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from drone_agent.capture.mavcamera import CameraComponent


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class CameraLink:
    """Pumps messages between a pymavlink connection and a CameraComponent."""

    def __init__(
        self,
        connection: Any,
        component: CameraComponent,
        *,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.connection = connection
        self.component = component
        self.clock = clock
        self.utc_now = utc_now

    def step(self, timeout_s: float = 0.05) -> None:
        """Wait up to ``timeout_s`` for one message, handle it and send whatever is due."""
        msg = self.connection.recv_match(blocking=True, timeout=timeout_s)
        now_s = self.clock()
        out = self.component.tick(now_s)
        if msg is not None and msg.get_type() != "BAD_DATA":
            out += self.component.on_message(msg, now_s, self.utc_now())
        for reply in out:
            self.connection.mav.send(reply)
