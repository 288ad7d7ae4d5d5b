"""The IO adapter: one MAVLink connection driving the agent's sans-IO sessions.

Theory of operation
-------------------
:class:`Link` owns a byte :mod:`~drone_agent.agent.transport`, a :class:`~.codec.Codec`, and a
set of *observers* (objects with ``receive(msg, now_s)``, ``poll(now_s)``, ``deadline_s``). It is
a single-threaded loop -- no locks, no shared mutable state:

1. wait (``selectors``) until bytes arrive or the earliest observer deadline (at most
   ``max_wait_s``, 50 ms, so heartbeats and link-loss checks are never late);
2. decode with ``time.monotonic()`` as ``now_s`` and wall time for signing; write every packet
   to the telemetry log; hand each message to every observer in order;
3. ``poll`` every observer; encode and send everything they returned (and log it).

A :class:`HostedComponent` lets another sans-IO component of our system -- capture's MAVLink
camera (component 100) -- share the link: it sees every message and speaks with its own
component id (signed with the same key when signing is on).

Permanent observers: the :class:`~.heartbeat.LinkMonitor` (heartbeat out, identification, link
loss) and, once the autopilot is known, the :class:`~.state.StateTracker`. :meth:`Link.run`
adds a session as a temporary observer and loops until it is done. Other components (the guard,
the camera component) are added as observers and react within the same loop turn that delivered
the telemetry -- the reaction latency is one decode plus one guard evaluation.

The telemetry log is pymavlink's ``.tlog`` format (8-byte big-endian µs since the Unix epoch, then
the raw packet) with both directions, readable by ``mavutil.mavlink_connection``, MAVExplorer and
Mission Planner.
"""

from __future__ import annotations

import selectors
import struct
import time
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from drone_agent.agent.codec import Codec
from drone_agent.agent.errors import LinkTimeout
from drone_agent.agent.heartbeat import Autopilot, LinkMonitor
from drone_agent.agent.session import Message, Outgoing, Peer, Session
from drone_agent.agent.state import StateTracker, VehicleState
from drone_agent.agent.transport import Transport

T = TypeVar("T")


class Link:
    """Read, decode, dispatch, poll, send -- one turn per :meth:`step`."""

    def __init__(
        self,
        transport: Transport,
        codec: Codec,
        *,
        monitor: LinkMonitor | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        tlog: BinaryIO | None = None,
        max_wait_s: float = 0.05,
    ) -> None:
        self.transport = transport
        self.codec = codec
        self.monitor = monitor or LinkMonitor()
        self.clock = clock
        self.wallclock = wallclock
        self.tlog = tlog
        self.max_wait_s = max_wait_s
        self.observers: list = [self.monitor]
        self.tracker: StateTracker | None = None
        self.rx_time_s = 0.0  # monotonic time the last bytes were read, before decoding
        self.peer: Peer | None = None
        self._selector = selectors.DefaultSelector()
        self._fd = -1
        self._had_fd = False
        self.reconnects = 0  # times the transport came back with a new connection (TCP, serial)
        self._watch_transport()

    # --- plumbing --------------------------------------------------------------------------
    def _watch_transport(self) -> None:
        """Follow the transport's file descriptor (a reopened TCP/serial link has a new one, -1 while down)."""
        fd = self.transport.fileno()
        if fd == self._fd:
            return
        if self._fd >= 0:
            self._selector.unregister(self._fd)
        if fd >= 0:
            self._selector.register(fd, selectors.EVENT_READ)
            if self._had_fd:
                self.reconnects += 1
            self._had_fd = True
        self._fd = fd

    def _log(self, data: bytes) -> None:
        if self.tlog is not None:
            self.tlog.write(struct.pack(">Q", int(self.wallclock() * 1e6)) + data)

    def send(self, msgs: Outgoing, component_id: int | None = None, system_id: int | None = None) -> None:
        for msg in msgs:
            data = self.codec.encode(msg, self.wallclock(), component_id, system_id)
            self.transport.write(data)
            self._log(data)

    def add(self, observer: object) -> None:
        self.observers.append(observer)

    def remove(self, observer: object) -> None:
        self.observers.remove(observer)

    @property
    def state(self) -> VehicleState:
        return self.tracker.state if self.tracker is not None else VehicleState()

    def step(self, wait_s: float | None = None) -> list[Message]:
        """One loop turn; returns the messages received in it."""
        now = self.clock()
        deadlines = [d for o in self.observers if (d := o.deadline_s) is not None]
        wait = self.max_wait_s if wait_s is None else wait_s
        if deadlines:
            wait = max(0.0, min(wait, min(deadlines) - now))
        received: list[Message] = []
        self._watch_transport()
        if self._fd < 0:
            time.sleep(wait)  # link down: reading is what makes the transport try to reopen it
        if self._fd < 0 or self._selector.select(wait):
            data = self.transport.read()
            if data:
                self.rx_time_s = self.clock()
                received = self.codec.feed(data, self.wallclock())
        now = self.clock()
        out: Outgoing = []
        for msg in received:
            self._log(bytes(msg.get_msgbuf()))
            for observer in list(self.observers):
                out += observer.receive(msg, now)
            if self.tracker is None and self.monitor.autopilot is not None:
                self._identified(self.monitor.autopilot)
                out += self.tracker.receive(msg, now)  # type: ignore[union-attr]
        for observer in list(self.observers):
            out += observer.poll(now)
        self.send(out)
        return received

    def _identified(self, autopilot: Autopilot) -> None:
        self.peer = Peer(
            autopilot.system_id, autopilot.component_id, self.codec.system_id, self.codec.component_id
        )
        self.tracker = StateTracker(autopilot.system_id, autopilot.component_id)
        self.observers.append(self.tracker)

    # --- conversations -------------------------------------------------------------------
    def wait_for_autopilot(self, timeout_s: float = 10.0) -> Autopilot:
        """Loop until a HEARTBEAT names the autopilot.

        Raises:
            LinkTimeout: no autopilot heartbeat within ``timeout_s``.
        """
        end = self.clock() + timeout_s
        while self.monitor.autopilot is None:
            if self.clock() > end:
                raise LinkTimeout(
                    f"no autopilot HEARTBEAT within {timeout_s:g} s",
                    "check the connection string, and that the vehicle speaks MAVLink 2",
                )
            self.step()
        return self.monitor.autopilot

    def run(self, session: Session[T], timeout_s: float | None = None) -> T:
        """Drive ``session`` to completion while every observer keeps running."""
        self.add(session)
        try:
            self.send(session.start(self.clock()))
            end = None if timeout_s is None else self.clock() + timeout_s
            while not session.done:
                if end is not None and self.clock() > end:
                    raise LinkTimeout(
                        f"{type(session).__name__} did not finish within {timeout_s:g} s",
                        "check the link",
                    )
                self.step()
        finally:
            self.remove(session)
        return session.result()

    def close(self) -> None:
        self._selector.close()
        self.transport.close()


class HostedComponent:
    """Run a sans-IO component with its own component id on a :class:`Link`.

    ``on_message(msg, now_s)`` and ``tick(now_s)`` return the component's messages, which are
    sent at once as ``component_id`` (of ``system_id``, default ours). Add it with
    ``link.add(HostedComponent(...))``.
    """

    deadline_s = None

    def __init__(
        self,
        link: Link,
        component_id: int,
        on_message: Callable[[Message, float], Outgoing],
        tick: Callable[[float], Outgoing],
        system_id: int | None = None,
    ) -> None:
        self.link = link
        self.component_id = component_id
        self.system_id = system_id
        self.on_message = on_message
        self.tick = tick

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        self.link.send(self.on_message(msg, now_s), self.component_id, self.system_id)
        return []

    def poll(self, now_s: float) -> Outgoing:
        self.link.send(self.tick(now_s), self.component_id, self.system_id)
        return []
