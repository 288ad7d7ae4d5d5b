"""The simulator's IO: TCP/UDP servers, the speed-up clock, routing; run as ``python -m``.

Theory of operation
-------------------
One thread, one ``selectors`` loop. Two TCP listeners (``agent`` and ``gcs``, like SITL's 5760 and
5762; any number of clients each) and an optional UDP socket (every remote address that sends a
packet becomes a link). Every accepted client is a *link* with its own MAVLink parser, its own
outgoing sequence numbers and its own telemetry rates (:class:`~.streams.LinkStreams`).

The vehicle clock starts at 0 when the first client connects (as SITL's does) and runs at
``speedup`` × wall time. The loop wakes at least every ``TICK_S`` of wall time, runs the vehicle's
50 Hz physics steps that are due, and after each step sends the telemetry that is due on each link,
so message timestamps and rates are right in vehicle time at any speed-up. Incoming packets are
parsed, their source learned in the :class:`~.routing.RouteTable`, processed by the
:class:`~.vehicle.Vehicle` when addressed to it and forwarded byte-for-byte to the links the table
names. A link whose socket cannot keep up (more than ``MAX_BACKLOG`` bytes queued) is dropped.

``main()`` is the ``python -m drone_agent.sim.server`` entry point used by
:class:`~.process.SimulatorProcess`: it binds, prints one JSON line with the chosen ports on
stdout, and serves until SIGTERM/SIGINT, or until its parent process dies (like SITL).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.sim.dynamics import DT_S
from drone_agent.sim.routing import RouteTable
from drone_agent.sim.vehicle import COMPID, SYSID, Vehicle

TICK_S = 0.01
MAX_BACKLOG = 4 * 1024 * 1024
PARENT_CHECK_S = 1.0


@dataclass(eq=False, slots=True)
class Link:
    link_id: int
    kind: str  # "agent", "gcs" or "udp"
    sock: socket.socket
    addr: tuple[str, int] | None = None  # UDP peer
    parser: mavlink.MAVLink = field(init=False)
    encoder: mavlink.MAVLink = field(init=False)
    outbuf: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.parser = mavlink.MAVLink(None)
        self.parser.robust_parsing = True
        self.encoder = mavlink.MAVLink(None, srcSystem=SYSID, srcComponent=COMPID)


class SimServer:
    """Serves one :class:`Vehicle` over TCP (agent + GCS listeners) and optionally UDP."""

    def __init__(self, vehicle: Vehicle, *, speedup: float = 1.0, host: str = "127.0.0.1",
                 agent_port: int = 0, gcs_port: int = 0, udp_port: int | None = None,
                 on_step: Callable[[Vehicle], None] | None = None) -> None:
        if speedup <= 0:
            raise InputError(f"speedup must be positive, got {speedup}",
                             "use e.g. --speedup 1 for real time, 10 for ten times faster")
        self.vehicle = vehicle
        self.speedup = speedup
        self.routes = RouteTable(SYSID, COMPID)
        self.sel = selectors.DefaultSelector()
        self.links: dict[int, Link] = {}
        self._udp_links: dict[tuple[str, int], Link] = {}
        self._next_link = 1
        self._t0_wall: float | None = None
        self._stop = False
        self._on_step = on_step
        self.agent_sock = self._listen(host, agent_port, "agent")
        self.gcs_sock = self._listen(host, gcs_port, "gcs")
        self.udp_sock: socket.socket | None = None
        if udp_port is not None:
            self.udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._bind(self.udp_sock, host, udp_port, "udp")
            self.udp_sock.setblocking(False)
            self.sel.register(self.udp_sock, selectors.EVENT_READ, ("udp", None))

    @staticmethod
    def _bind(sock: socket.socket, host: str, port: int, what: str) -> None:
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            hint = ("choose another port or stop whatever uses it" if exc.errno == errno.EADDRINUSE
                    else "check the address")
            raise EnvironmentFault(f"simulator cannot bind its {what} port {host}:{port}: "
                                   f"{exc.strerror}", hint) from exc

    def _listen(self, host: str, port: int, kind: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._bind(sock, host, port, kind)
        sock.listen(8)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("listen", kind))
        return sock

    @property
    def ports(self) -> dict[str, int]:
        out = {"agent": self.agent_sock.getsockname()[1], "gcs": self.gcs_sock.getsockname()[1]}
        if self.udp_sock is not None:
            out["udp"] = self.udp_sock.getsockname()[1]
        return out

    # ---------------------------------------------------------------- links
    def _new_link(self, kind: str, sock: socket.socket, addr: tuple[str, int] | None) -> Link:
        link = Link(self._next_link, kind, sock, addr)
        self._next_link += 1
        self.links[link.link_id] = link
        self.vehicle.add_link(link.link_id)
        if self._t0_wall is None:
            self._t0_wall = time.monotonic()
        return link

    def _drop(self, link: Link) -> None:
        self.links.pop(link.link_id, None)
        self.vehicle.remove_link(link.link_id)
        self.routes.forget_link(link.link_id)
        if link.addr is None:
            try:
                self.sel.unregister(link.sock)
            except (KeyError, ValueError):
                pass
            link.sock.close()
        else:
            self._udp_links.pop(link.addr, None)

    def _accept(self, listener: socket.socket, kind: str) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = self._new_link(kind, sock, None)
        self.sel.register(sock, selectors.EVENT_READ, ("link", link))

    def _send(self, link: Link, data: bytes) -> None:
        if link.addr is not None:
            try:
                self.udp_sock.sendto(data, link.addr)  # type: ignore[union-attr]
            except OSError:
                pass
            return
        link.outbuf += data
        if len(link.outbuf) > MAX_BACKLOG:
            self._drop(link)

    def _flush(self) -> None:
        for link in list(self.links.values()):
            if link.addr is not None or not link.outbuf:
                continue
            try:
                sent = link.sock.send(link.outbuf)
                del link.outbuf[:sent]
            except BlockingIOError:
                pass
            except OSError:
                self._drop(link)

    def _emit(self, out: list[tuple[int | None, mavlink.MAVLink_message]]) -> None:
        for link_id, msg in out:
            targets = self.links.values() if link_id is None else (
                [self.links[link_id]] if link_id in self.links else [])
            for link in list(targets):
                self._send(link, msg.pack(link.encoder))

    # ---------------------------------------------------------------- inbound
    def _read(self, link: Link) -> None:
        try:
            data = link.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(link)
            return
        self._ingest(link, data)

    def _read_udp(self) -> None:
        assert self.udp_sock is not None
        while True:
            try:
                data, addr = self.udp_sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            link = self._udp_links.get(addr)
            if link is None:
                link = self._new_link("udp", self.udp_sock, addr)
                self._udp_links[addr] = link
            self._ingest(link, data)

    def _ingest(self, link: Link, data: bytes) -> None:
        try:
            msgs = link.parser.parse_buffer(data) or []
        except mavlink.MAVError:
            return
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                continue
            self.routes.learn(link.link_id, msg.get_srcSystem(), msg.get_srcComponent())
            tsys = getattr(msg, "target_system", None)
            tcomp = getattr(msg, "target_component", None)
            local, forward = self.routes.route(link.link_id, tsys, tcomp)
            if forward:
                raw = bytes(msg.get_msgbuf())
                for other in forward:
                    if other in self.links:
                        self._send(self.links[other], raw)
            if local and link.link_id in self.links:
                self._emit(self.vehicle.handle(msg, link.link_id))

    # ---------------------------------------------------------------- clock
    def vehicle_time(self) -> float:
        if self._t0_wall is None:
            return 0.0
        return (time.monotonic() - self._t0_wall) * self.speedup

    def _run_physics(self) -> None:
        if self._t0_wall is None:
            return
        target = self.vehicle_time()
        v = self.vehicle
        while v.now_s + DT_S <= target:
            self._emit(v.advance(v.now_s + DT_S))
            if self._on_step is not None:
                self._on_step(v)
            for link in list(self.links.values()):
                for msg in v.telemetry(link.link_id):
                    self._send(link, msg.pack(link.encoder))

    def stop(self) -> None:
        self._stop = True

    def serve(self, parent_pid: int | None = None) -> None:
        next_parent_check = time.monotonic() + PARENT_CHECK_S
        while not self._stop:
            wants_write = any(link.outbuf for link in self.links.values())
            for key, _ in self.sel.select(0 if wants_write else TICK_S):
                what, data = key.data
                if what == "listen":
                    self._accept(key.fileobj, data)  # type: ignore[arg-type]
                elif what == "udp":
                    self._read_udp()
                else:
                    self._read(data)
            self._run_physics()
            self._flush()
            if wants_write:
                time.sleep(0.001)
            if parent_pid is not None and time.monotonic() >= next_parent_check:
                next_parent_check = time.monotonic() + PARENT_CHECK_S
                if os.getppid() != parent_pid:
                    return

    def close(self) -> None:
        for link in list(self.links.values()):
            self._drop(link)
        for sock in (self.agent_sock, self.gcs_sock, self.udp_sock):
            if sock is not None:
                try:
                    self.sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
                sock.close()
        self.sel.close()


def parse_home(text: str) -> tuple[float, float, float]:
    """'LAT,LON,ALT' → (lat_deg, lon_deg, alt_amsl_m), with an InputError naming the field."""
    parts = text.split(",")
    if len(parts) != 3:
        raise InputError(f"--home {text!r} is not LAT,LON,ALT",
                         "give e.g. --home 51.2705,0.5227,30 (degrees, degrees, metres AMSL)")
    try:
        lat, lon, alt = (float(p) for p in parts)
    except ValueError as exc:
        raise InputError(f"--home {text!r} has a non-number", "use decimal degrees and metres"
                         ) from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"--home {text!r} is not a valid position",
                         "latitude -90..90, longitude -180..180")
    return lat, lon, alt


def _parse_params(text: str) -> Mapping[str, float]:
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--params is not JSON: {exc}", 'give e.g. {"FENCE_ENABLE": 1}') from exc
    if not isinstance(params, dict):
        raise InputError("--params must be a JSON object", 'give e.g. {"FENCE_ENABLE": 1}')
    return {str(k): float(v) for k, v in params.items()}


def build_vehicle(home: tuple[float, float, float], seed: int, params: Mapping[str, float],
                  fast_boot: bool) -> Vehicle:
    try:
        return Vehicle(home, seed=seed, params=params, fast_boot=fast_boot)
    except KeyError as exc:
        raise InputError(f"unknown simulator parameter {exc.args[0]}",
                         "see drone_agent.sim.params.DEFAULTS for the parameters it knows") from exc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m drone_agent.sim.server")
    ap.add_argument("--home", required=True)
    ap.add_argument("--speedup", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--fast-boot", action="store_true")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--agent-port", type=int, default=0)
    ap.add_argument("--gcs-port", type=int, default=0)
    ap.add_argument("--udp-port", type=int, default=None)
    ap.add_argument("--exit-with-parent", action="store_true")
    args = ap.parse_args(argv)
    try:
        vehicle = build_vehicle(parse_home(args.home), args.seed, _parse_params(args.params),
                                args.fast_boot)
        server = SimServer(vehicle, speedup=args.speedup, host=args.host,
                           agent_port=args.agent_port, gcs_port=args.gcs_port,
                           udp_port=args.udp_port)
    except (InputError, EnvironmentFault) as exc:
        print(json.dumps({"error": exc.one_line(), "exit_code": exc.exit_code}), flush=True)
        return exc.exit_code
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(json.dumps({"ports": server.ports, "pid": os.getpid()}), flush=True)
    try:
        server.serve(parent_pid=os.getppid() if args.exit_with_parent else None)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
