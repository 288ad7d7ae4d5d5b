"""What the pilot sees and types during ``fly``: a live dashboard on a terminal, log lines otherwise.

Both consoles take the same calls: ``say(line)`` for events, ``show(FlightStatus)`` for the
periodic snapshot, ``bind_trigger(pilot, key)`` to let the pilot start and stop recording.

* :class:`DashboardConsole` (stdout and stdin are a terminal): a ``rich`` live table -- link,
  mode, armed, GPS/EKF, height above ground against the ceiling, distance and time to the nearest
  boundary, guard state, recording state with elapsed time and trigger source, segments sealed,
  free disk -- with the latest events under it and the key bindings at the bottom. The trigger key
  toggles recording; starting asks for the reason / incident reference first (the dashboard pauses
  while the pilot types).
* :class:`LineConsole`: one line per event and per status interval (pipes, logs, CI). When stdin
  is a terminal it still takes the trigger as typed lines (``r REASON`` / ``s``).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, TextIO

from drone_agent.agent.status import FlightStatus

Pilot = Callable[..., None]  # pilot(start: bool, reason=None, operator=None)


class Console(Protocol):
    def say(self, line: str) -> None: ...
    def show(self, status: FlightStatus) -> None: ...
    def bind_trigger(self, pilot: Pilot, key: str) -> None: ...
    def close(self) -> None: ...


class LineConsole:
    """Plain lines; the trigger as typed lines when stdin is a terminal."""

    def __init__(self, say: Callable[[str], None] | None = None, stdin: TextIO | None = None) -> None:
        self._say = say or (lambda line: print(line, flush=True))
        self._stdin = stdin

    def say(self, line: str) -> None:
        self._say(line)

    def show(self, status: FlightStatus) -> None:
        self.say(status.line())

    def bind_trigger(self, pilot: Pilot, key: str) -> None:
        stdin = self._stdin
        if stdin is None or not stdin.isatty():
            return
        self.say(f"recording: type '{key} REASON' + Enter to start, 's' + Enter to stop")

        def read() -> None:
            for raw in stdin:
                word, _, rest = raw.strip().partition(" ")
                if word == key:
                    pilot(True, reason=rest.strip() or None, operator="pilot")
                elif word == "s":
                    pilot(False, reason=rest.strip() or "pilot stopped recording", operator="pilot")

        threading.Thread(target=read, name="pilot-input", daemon=True).start()

    def close(self) -> None:
        return None


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None or value != value or value in (float("inf"), float("-inf")) else (
        format(value, spec) + unit)


class DashboardConsole:
    """A rich live dashboard with a single-key trigger (see the module docstring)."""

    def __init__(self) -> None:
        from rich.console import Console as RichConsole
        from rich.live import Live

        self._rich = RichConsole()
        self._events: deque[str] = deque(maxlen=8)
        self._status: FlightStatus | None = None
        self._bindings = "Ctrl-C: stop guarding (the flight controller's own fence stays in force)"
        self._live = Live(self._render(), console=self._rich, refresh_per_second=4, transient=False)
        self._live.start()
        self._lock = threading.Lock()  # held only to refresh, stop or start the display
        self._prompting = threading.Event()  # the pilot is typing: show nothing, block nobody
        self._stopped = threading.Event()

    def _render(self):  # noqa: ANN202 -- a rich renderable
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        s = self._status
        table = Table.grid(padding=(0, 2))
        for _ in range(4):
            table.add_column()
        if s is None:
            table.add_row("waiting for the vehicle...", "", "", "")
        else:
            cap = s.capture
            rec = "[dim]no camera[/]" if cap is None else (
                f"[bold white on red] REC [/] {_fmt(cap.recording_for_s, '.0f', ' s')} ({cap.trigger_source})"
                if cap.recording else "off")
            if cap is not None and cap.camera_error:
                rec += " [red]camera failed[/]"
            height_style = "red" if (s.height_agl_m or 0.0) > s.height_limit_m * 0.9 else "green"
            ttb_style = "red" if s.time_to_breach_s is not None and s.time_to_breach_s < 10 else "green"
            table.add_row("link", "[green]up[/]" if s.link_up else "[bold red]LOST[/]",
                          "mode", f"[bold]{s.mode}[/] {'[red]ARMED[/]' if s.armed else 'disarmed'}")
            table.add_row("GPS", f"fix {s.gps_fix_type}, {s.satellites} sats " + ("[green]ok[/]" if s.gps_ok else "[red]not ok[/]"),
                          "EKF", "[green]ok[/]" if s.ekf_ok else "[red]not ok[/]")
            table.add_row("height", f"[{height_style}]{_fmt(s.height_agl_m, '.1f', ' m')}[/] of "
                          f"{s.height_limit_m:g} m ({s.height_source})",
                          "battery", _fmt(s.battery_remaining_pct, 'd', ' %') if s.battery_remaining_pct is not None and s.battery_remaining_pct >= 0 else "-")
            table.add_row("boundary", f"{_fmt(s.boundary_margin_m, '.1f', ' m')} ({s.nearest_zone or '-'})",
                          "time to breach", f"[{ttb_style}]{_fmt(s.time_to_breach_s, '.1f', ' s')}[/]")
            table.add_row("guard", f"[bold]{s.guard_phase}[/]", "recording", rec)
            table.add_row("sealed", "-" if cap is None else f"{cap.segments_sealed} segment(s)",
                          "free disk", _fmt(s.free_disk_gb, '.1f', ' GB'))
        events = "\n".join(self._events) or "[dim]no events yet[/]"
        return Group(Panel(table, title="drone-agent fly", subtitle=s.utc if s else ""),
                     Panel(events, title="events"), f"[dim]{self._bindings}[/]")

    def _refresh(self) -> None:
        # Called from the flight loop: it must never wait for the pilot's typing.
        if self._prompting.is_set() or not self._lock.acquire(blocking=False):
            return
        try:
            self._live.update(self._render(), refresh=True)
        finally:
            self._lock.release()

    def say(self, line: str) -> None:
        self._events.append(line)
        self._refresh()

    def show(self, status: FlightStatus) -> None:
        self._status = status
        self._refresh()

    def bind_trigger(self, pilot: Pilot, key: str) -> None:
        self._bindings = (f"{key}: start/stop recording (asks for the reason)  |  " + self._bindings)
        threading.Thread(target=self._keys, args=(pilot, key), name="pilot-keys", daemon=True).start()

    def _keys(self, pilot: Pilot, key: str) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        recording = False
        try:
            tty.setcbreak(fd)
            while not self._stopped.is_set():
                char = sys.stdin.read(1)
                if char != key:
                    continue
                if recording:
                    pilot(False, reason="pilot stopped recording", operator="pilot")
                    recording = False
                    continue
                self._prompting.set()
                with self._lock:
                    self._live.stop()
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                try:
                    reason = input("Reason / incident reference for recording (Enter = cancel): ").strip()
                finally:
                    tty.setcbreak(fd)
                    with self._lock:
                        self._live.start()
                    self._prompting.clear()
                    self._refresh()
                if reason:
                    pilot(True, reason=reason, operator="pilot")
                    recording = True
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(Exception):
            self._live.stop()


def console_for_terminal() -> Console:
    """The dashboard on an interactive terminal, lines otherwise."""
    if sys.stdout.isatty() and sys.stdin.isatty():
        return DashboardConsole()
    return LineConsole(stdin=sys.stdin)
