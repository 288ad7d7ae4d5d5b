"""A loopback TCP proxy that cuts every connection on demand: networks that go away, in tests.

:class:`CutProxy` forwards 127.0.0.1:<port> to a server on 127.0.0.1 and, when armed with
``cut_after(n)``, drops every connection once ``n`` more client-to-server bytes have passed and
then refuses (accepts and closes) new ones until ``heal()`` -- a network that goes away in the
middle of a request body, like a laptop lid closing (the store's upload tests), or a telemetry
bridge that restarts (the agent's link tests). ``cut_after(n, action)`` runs ``action`` at that
byte instead (e.g. kill the server) and keeps forwarding.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


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
        """Go down after ``nbytes`` more client-to-server bytes -- or, with ``action`` (e.g. kill
        the server), run it at that byte instead and keep forwarding."""
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
