"""In-package test tools for the store: stand-in flight folders and a loopback proxy that cuts.

* :func:`make_flight` writes a folder shaped like a flight (files + a JSON-lines ``audit.jsonl``)
  without the evidence package's keys; :class:`JsonlAudit`, :func:`accept_all` and
  :func:`summary_for` stand in for ``AuditLog``, ``verify_flight`` and ``read_flight_summary``.
* :class:`CutProxy` forwards 127.0.0.1:<port> to the store and, when armed with
  ``cut_after(n)``, drops every connection once ``n`` more request bytes have passed and then
  refuses (accepts and closes) new ones until ``heal()`` -- a network that goes away in the middle
  of a request body, like a laptop lid closing.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drone_agent.store.plan import AUDIT_FILE, FlightInfo


def make_flight(root: Path, flight_id: str, files: dict[str, bytes]) -> Path:
    """A flight-shaped folder ``root/flight_id`` with ``files`` and a one-record audit log."""
    flight_dir = Path(root) / flight_id
    for relpath, data in files.items():
        path = flight_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    record = {"seq": 0, "event": "flight_opened", "flight_id": flight_id}
    (flight_dir / AUDIT_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return flight_dir


class JsonlAudit:
    """``audit_for`` stand-in: appends ``{"event": ..., **fields}`` lines to the flight's audit log."""

    def __call__(self, flight_dir: Path):  # -> append(event, **fields)
        path = Path(flight_dir) / AUDIT_FILE

        def append(event: str, **fields: Any) -> dict[str, Any]:
            record = {"event": event, **fields}
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
            return record

        return append

    @staticmethod
    def events(flight_dir: Path) -> list[dict[str, Any]]:
        path = Path(flight_dir) / AUDIT_FILE
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@dataclass(frozen=True, slots=True)
class FakeReport:
    intact: bool = True
    problems: list[str] = field(default_factory=list)


def accept_all(flight_dir: Path) -> FakeReport:
    """``verify_flight`` stand-in that finds every flight intact."""
    return FakeReport()


def summary_for(flight_dir: Path) -> FlightInfo:
    """``read_flight_summary`` stand-in: fixed operation and incident, id from the folder name."""
    return FlightInfo(Path(flight_dir).name, "Op Kestrel", "KP/2026/1234", "2026-11-24T10:15:00Z")


class CutProxy:
    """A loopback TCP proxy that can drop every connection after a byte budget (see module doc)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._budget: int | None = None
        self._action: Callable[[], None] | None = None
        self._down = False
        self._closed = False
        self.cuts = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, nbytes: int, action: Callable[[], None] | None = None) -> None:
        """Go down after ``nbytes`` more client-to-store bytes -- or, with ``action`` (e.g. kill
        the store), run it at that byte instead and keep forwarding."""
        with self._lock:
            self._budget = nbytes
            self._action = action
            self._down = False

    def heal(self) -> None:
        with self._lock:
            self._budget = None
            self._action = None
            self._down = False

    def _cut_all(self) -> None:
        self._down = True
        self._budget = None
        self.cuts += 1
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._down:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                cut = False
                if counted:
                    with self._lock:
                        if self._down:
                            break
                        if self._budget is not None:
                            if len(data) >= self._budget:
                                data, cut = data[: self._budget], True
                            else:
                                self._budget -= len(data)
                if cut and self._action is not None:
                    action, self._action, self._budget = self._action, None, None
                    action()
                    cut = False
                dst.sendall(data)
                if cut:
                    with self._lock:
                        self._cut_all()
                    return
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()
            with self._lock:
                self._conns.discard(src)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._cut_all()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CutProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
