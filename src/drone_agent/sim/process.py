"""Run the simulator in its own process: ``with SimulatorProcess(...) as sim: sim.agent_connection``.

Theory of operation
-------------------
``__enter__`` starts ``python -m drone_agent.sim.server`` with ephemeral ports (or the ones asked
for) and ``--exit-with-parent``, reads the one JSON line it prints (the ports it bound, or the
error that stopped it) within ``START_TIMEOUT_S``, and exposes the connection strings in
pymavlink/MAVProxy syntax. ``__exit__`` sends SIGTERM, waits, and kills if it must. Several
instances can run at once: each binds its own ports. The child also exits by itself if this
process dies, so a crashed test leaves nothing running.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Mapping
from types import TracebackType

from drone_agent.errors import EnvironmentFault, InputError

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class SimulatorProcess:
    """The built-in ArduCopter-like simulator as a child process (see the module docstring)."""

    def __init__(self, home: tuple[float, float, float] = (51.2705, 0.5227, 30.0), *,
                 speedup: float = 1.0, seed: int = 0, params: Mapping[str, float] | None = None,
                 fast_boot: bool = False, host: str = "127.0.0.1", agent_port: int = 0,
                 gcs_port: int = 0, udp_port: int | None = None) -> None:
        if speedup <= 0:
            raise InputError(f"SimulatorProcess speedup must be positive, got {speedup}",
                             "use 1 for real time, 10 for ten times faster")
        self.home = home
        self.speedup = speedup
        self._argv = [sys.executable, "-m", "drone_agent.sim.server",
                      "--home", ",".join(repr(float(x)) for x in home),
                      "--speedup", repr(float(speedup)), "--seed", str(int(seed)),
                      "--params", json.dumps({k: float(v) for k, v in (params or {}).items()}),
                      "--host", host, "--agent-port", str(agent_port),
                      "--gcs-port", str(gcs_port), "--exit-with-parent"]
        if fast_boot:
            self._argv.append("--fast-boot")
        if udp_port is not None:
            self._argv += ["--udp-port", str(udp_port)]
        self._host = host
        self._proc: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}

    @property
    def agent_connection(self) -> str:
        return f"tcp:{self._host}:{self.ports['agent']}"

    @property
    def camera_connection(self) -> str:
        """For the synthetic camera's own client (the agent port takes any number of clients)."""
        return self.agent_connection

    @property
    def gcs_connection(self) -> str:
        return f"tcp:{self._host}:{self.ports['gcs']}"

    @property
    def udp_connection(self) -> str | None:
        return f"udpout:{self._host}:{self.ports['udp']}" if "udp" in self.ports else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> SimulatorProcess:
        self._proc = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                      text=True)
        line = _readline_with_timeout(self._proc, START_TIMEOUT_S)
        try:
            info = json.loads(line) if line else {}
        except json.JSONDecodeError:
            info = {}
        if "ports" not in info:
            self.stop()
            if "error" in info:
                raise EnvironmentFault(f"simulator did not start: {info['error']}",
                                       "fix the option it names and try again")
            raise EnvironmentFault("simulator did not start (no port report)",
                                   "run 'python -m drone_agent.sim.server --home 51.27,0.52,30' "
                                   "to see its error")
        self.ports = {k: int(v) for k, v in info["ports"].items()}
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        terminate(proc)
        if proc.stdout:
            proc.stdout.close()
        self._proc = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; waits for the process to end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _readline_with_timeout(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            return ""
    return proc.stdout.readline()
