"""Byte transports for MAVLink connection strings as MAVProxy users write them.

==========================  ======================================================================
``tcp:HOST:PORT``           connect to a TCP server (ArduPilot SITL 5760/5762, a telemetry bridge)
``udp:HOST:PORT``           listen on HOST:PORT (MAVProxy's ``--master=udp:``; same as ``udpin:``)
``udpin:HOST:PORT``         listen; replies go to the last peer heard from
``udpout:HOST:PORT``        send to HOST:PORT (the peer must be listening); replies are read too
``/dev/ttyUSB0[,BAUD]``     serial device (default 115200 baud); ``COM3,57600`` on Windows
``serial:DEVICE[:BAUD]``    same, explicit
==========================  ======================================================================

Each transport is non-blocking with a ``fileno()`` for ``selectors`` (-1 while a link is down and
being reopened; it may change after a reopen); ``read()`` returns whatever bytes are waiting
(``b""`` when none), ``write()`` sends a whole packet. TCP and serial links that go down after the
first open are reopened (:class:`_Reconnecting`). Serial uses ``pyserial`` directly.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from drone_agent.errors import EnvironmentFault, InputError, VehicleError

DEFAULT_BAUD = 115200


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str  # "tcp", "udpin", "udpout", "serial"
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = DEFAULT_BAUD

    def __str__(self) -> str:
        if self.kind == "serial":
            return f"{self.device},{self.baud}"
        return f"{self.kind}:{self.host}:{self.port}"


def parse_connection(text: str) -> Endpoint:
    """Parse a MAVProxy-style connection string.

    Raises:
        InputError: unknown scheme, missing port, port out of range, bad baud rate.
    """
    hint = "use tcp:HOST:PORT, udp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or DEVICE[,BAUD]"
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if sep and scheme in ("tcp", "udp", "udpin", "udpout"):
        host, sep2, port_text = rest.rpartition(":")
        if not sep2 or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InputError(f"connection {text!r}: needs HOST:PORT with a port 1-65535", hint)
        kind = "udpin" if scheme == "udp" else scheme
        return Endpoint(kind, host=host, port=int(port_text))
    if scheme == "serial" and sep:
        device, _, baud_text = rest.partition(":")
    elif text.startswith(("/", "COM")):
        device, _, baud_text = text.partition(",")
    else:
        raise InputError(f"connection {text!r}: unknown kind", hint)
    if baud_text and not baud_text.isdigit():
        raise InputError(f"connection {text!r}: baud rate {baud_text!r} is not a number", hint)
    return Endpoint("serial", device=device, baud=int(baud_text) if baud_text else DEFAULT_BAUD)


class Transport(Protocol):
    def fileno(self) -> int: ...
    def read(self) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class _Reconnecting:
    """A link that comes back: TCP to a server, a serial device (a USB radio can be unplugged).

    The first open must succeed (the subclass raises VehicleError otherwise: a flight does not start
    on a link that is not there). After that, a closed, reset or vanished connection is not an error:
    ``read`` returns no bytes, ``write`` drops packets, and every ``retry_interval_s`` a later ``read``
    tries to open it again without blocking the caller's loop -- so the heartbeat monitor sees the
    silence as link loss and the first HEARTBEAT after the reopen as its restoration, exactly as for
    a radio link. ``fileno()`` is -1 while down and may change on reopen; ``last_error`` says why the
    link went down.
    """

    def __init__(self, retry_interval_s: float, clock: Callable[[], float]) -> None:
        self.retry_interval_s = retry_interval_s
        self._clock = clock
        self.last_error: str | None = None
        self._next_attempt_s = 0.0

    # subclass hooks: the open connection (or None), its recv/send, closing it, trying to reopen it
    kind = "link"
    _conn: Any = None

    def _recv(self) -> bytes:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _close_conn(self) -> None:
        raise NotImplementedError

    def _reopen(self) -> None:
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def fileno(self) -> int:
        return self._conn.fileno() if self._conn is not None else -1

    def _drop(self, reason: str) -> None:
        if self._conn is not None:
            self._close_conn()
            self._conn = None
            self.last_error = reason
            self._next_attempt_s = self._clock()  # try again at once, then every retry_interval_s

    def _attempt_due(self) -> bool:
        now = self._clock()
        if now < self._next_attempt_s:
            return False
        self._next_attempt_s = now + self.retry_interval_s
        return True

    def read(self) -> bytes:
        if self._conn is None:
            self._reopen()
            return b""
        try:
            return self._recv()
        except BlockingIOError:
            return b""
        except OSError as exc:  # includes serial.SerialException
            self._drop(f"{self.kind} link failed: {exc.strerror or exc}")
            return b""

    def close(self) -> None:
        if self._conn is not None:
            self._close_conn()
            self._conn = None

    def write(self, data: bytes) -> None:
        if self._conn is None:
            return  # down: dropped like a packet lost on a radio link
        try:
            self._send(data)
        except BlockingIOError:
            pass  # a full send buffer: drop, MAVLink is loss tolerant
        except OSError as exc:
            self._drop(f"{self.kind} link failed: {exc.strerror or exc}")


class TcpTransport(_Reconnecting):
    """A TCP client (:class:`_Reconnecting`): reconnects with a non-blocking connect, to the address
    the first connection resolved (no DNS in the loop)."""

    kind = "TCP"

    def __init__(self, host: str, port: int, connect_timeout_s: float = 5.0,
                 retry_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(retry_interval_s, clock)
        self.address = (host, port)
        self.connect_timeout_s = connect_timeout_s
        self._pending: socket.socket | None = None
        self._pending_since_s = 0.0
        try:
            sock = socket.create_connection(self.address, timeout=connect_timeout_s)
        except OSError as exc:
            raise VehicleError(
                f"cannot connect to tcp:{host}:{port} ({exc.strerror or exc})",
                "is the vehicle/SITL/telemetry bridge running and the port right?",
            ) from exc
        self._family, self._peer = sock.family, sock.getpeername()
        self._conn: socket.socket | None = self._adopt(sock)

    @staticmethod
    def _adopt(sock: socket.socket) -> socket.socket:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def _recv(self) -> bytes:
        data = self._conn.recv(65536)
        if not data:
            self._drop("the vehicle closed the TCP connection")
        return data

    def _send(self, data: bytes) -> None:
        self._conn.sendall(data)

    def _close_conn(self) -> None:
        self._conn.close()

    def _reopen(self) -> None:
        if self._pending is None:
            if not self._attempt_due():
                return
            sock = socket.socket(self._family, socket.SOCK_STREAM)
            sock.setblocking(False)
            error = sock.connect_ex(self._peer)
            if error not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                sock.close()
                return
            self._pending, self._pending_since_s = sock, self._clock()
        _, writable, _ = select.select([], [self._pending], [], 0)
        if writable:
            sock, self._pending = self._pending, None
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                self._conn = self._adopt(sock)
            else:
                sock.close()
        elif self._clock() - self._pending_since_s > self.connect_timeout_s:
            self._pending.close()
            self._pending = None

    def close(self) -> None:
        super().close()
        if self._pending is not None:
            self._pending.close()
            self._pending = None


class UdpTransport:
    """``udpin`` binds and answers the last sender; ``udpout`` sends to a fixed address."""

    def __init__(self, host: str, port: int, listen: bool) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._peer: tuple[str, int] | None = None
        try:
            if listen:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._sock.bind((host, port))
            else:
                self._peer = (socket.gethostbyname(host), port)
        except OSError as exc:
            self._sock.close()
            raise EnvironmentFault(
                f"cannot use udp {host}:{port} ({exc.strerror or exc})",
                "is another program bound to that port?",
            ) from exc
        self._listen = listen
        self._sock.setblocking(False)

    @property
    def local_address(self) -> tuple[str, int]:
        return self._sock.getsockname()

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> bytes:
        try:
            data, sender = self._sock.recvfrom(65536)
        except (BlockingIOError, ConnectionRefusedError):
            return b""
        if self._listen:
            self._peer = sender
        return data

    def write(self, data: bytes) -> None:
        if self._peer is None:
            return  # udpin: nobody has spoken to us yet
        try:
            self._sock.sendto(data, self._peer)
        except (BlockingIOError, ConnectionRefusedError):
            pass

    def close(self) -> None:
        self._sock.close()


class SerialTransport(_Reconnecting):
    """A serial device through pyserial (:class:`_Reconnecting`): if the device fails or vanishes (a
    USB telemetry radio unplugged), it is reopened by name every ``retry_interval_s``, so a radio
    plugged back in -- same device name, or a stable ``/dev/serial/by-id/...`` link -- carries on."""

    kind = "serial"

    def __init__(self, device: str, baud: int, retry_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(retry_interval_s, clock)
        self.device, self.baud = device, baud
        try:
            self._conn = self._open()
        except ImportError as exc:
            raise EnvironmentFault("serial links need pyserial", "python3 -m pip install pyserial") from exc
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            raise VehicleError(f"cannot open {device} at {baud} baud: {exc}",
                               "check the device name and permissions") from exc

    def _open(self) -> Any:
        import serial

        self._output_full = serial.SerialTimeoutException
        port = serial.Serial(self.device, 1200, timeout=0, write_timeout=0,
                             dsrdtr=False, rtscts=False, xonxoff=False)
        port.baudrate = self.baud  # 1200 first, then the real rate: works around a Linux driver bug
        return port                # (as pymavlink's mavserial does)

    def _recv(self) -> bytes:
        return bytes(self._conn.read(4096))

    def _send(self, data: bytes) -> None:
        try:
            self._conn.write(data)
        except self._output_full:
            pass  # the output buffer is full (write_timeout=0): drop, MAVLink is loss tolerant

    def _close_conn(self) -> None:
        try:
            self._conn.close()
        except OSError:
            pass

    def _reopen(self) -> None:
        if not self._attempt_due():
            return
        try:
            self._conn = self._open()
        except (OSError, ValueError):
            return



def open_transport(endpoint: Endpoint) -> Transport:
    if endpoint.kind == "tcp":
        return TcpTransport(endpoint.host, endpoint.port)
    if endpoint.kind in ("udpin", "udpout"):
        return UdpTransport(endpoint.host, endpoint.port, listen=endpoint.kind == "udpin")
    return SerialTransport(endpoint.device, endpoint.baud)
