"""Launch real ArduPilot SITL (``arducopter``) behind the same interface as SimulatorProcess.

Theory of operation
-------------------
``ARDUPILOT_SITL`` (or ``binary=``) names an ``arducopter`` SITL binary. Its default parameter file
is ``defaults=`` if given, else the first of ``copter.parm`` / ``default_params/copter.parm`` beside the
binary or ``Tools/autotest/default_params/copter.parm`` in the ArduPilot tree the binary was built in
(``build/sitl/bin/arducopter``). Extra ``params`` are written to a second defaults file, renamed
parameters under both names (``WP_SPD`` and 4.7's ``WPNAV_SPEED``...: :data:`LEGACY_PARAM_NAMES`).

Each instance runs in its own temporary directory (its own ``eeprom.bin``, wiped with ``-w``) with an
``--instance`` number whose ports are free: SERIAL0 on TCP 5760+10·i is the *agent* connection,
SERIAL1 on 5762+10·i the *GCS* connection, as with sim_vehicle.py. Real SITL behaves differently from
the built-in simulator in ways callers must respect:

* it blocks until a client connects to SERIAL0 (the agent port) and only then starts its clock and
  opens SERIAL1, so ``__enter__`` waits for its "Serial port 0 on TCP port" / "Waiting for
  connection" line instead of probing the ports (a probe would be taken for the agent);
* it needs about 40 s of vehicle time (``40/speedup`` s) before GUIDED arming succeeds
  (``fast_boot`` cannot shorten that and is ignored; ``seed`` has no equivalent either);
* it exits when its parent process dies, so keep the object alive for the whole test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.sim.process import terminate

ENV_BINARY = "ARDUPILOT_SITL"
START_TIMEOUT_S = 30.0
MAX_INSTANCES = 50
READY_MARKERS = ("Waiting for connection", "Serial port 0 on TCP port", "SERIAL0 on TCP port")
GCS_PORT_MARKERS = ("Serial port 1 on TCP port", "SERIAL1 on TCP port")
SERIAL2_MARKERS = ("Serial port 2 on TCP port", "SERIAL2 on TCP port")
GCS_PORT_TIMEOUT_S = 60.0


def find_binary(binary: str | os.PathLike[str] | None = None) -> Path:
    value = str(binary) if binary is not None else os.environ.get(ENV_BINARY, "")
    if not value:
        raise EnvironmentFault(f"{ENV_BINARY} is not set",
                               "set it to an arducopter SITL binary, e.g. "
                               "~/ardupilot/build/sitl/bin/arducopter")
    path = Path(value).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise EnvironmentFault(f"{ENV_BINARY}={value} is not an executable file",
                               "build it with './waf configure --board sitl && ./waf copter'")
    return path


def find_defaults(binary: Path, defaults: str | os.PathLike[str] | None = None) -> Path:
    if defaults is not None:
        path = Path(defaults).expanduser()
        if not path.is_file():
            raise InputError(f"SITL defaults file {path} does not exist",
                             "give the copter.parm of your ArduPilot tree")
        return path
    here = binary.resolve().parent
    candidates = [here / "copter.parm", here / "default_params" / "copter.parm"]
    candidates += [p / "Tools" / "autotest" / "default_params" / "copter.parm"
                   for p in here.parents]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise EnvironmentFault(f"no copter.parm found beside {binary}",
                           "pass defaults=PATH (Tools/autotest/default_params/copter.parm)")


# ArduCopter 4.8 renamed the waypoint speeds (m/s); 4.7 and earlier have WPNAV_* in cm/s. SITL
# silently ignores a defaults-file name it does not know, so both spellings are written and the
# firmware takes the one it has. (Without this a 4.7 vehicle keeps WPNAV_SPEED_UP 250 cm/s and climbs
# at 2.5 m/s under a 3 m/s request.)
LEGACY_PARAM_NAMES: dict[str, tuple[str, float]] = {
    "WP_SPD": ("WPNAV_SPEED", 100.0),
    "WP_SPD_UP": ("WPNAV_SPEED_UP", 100.0),
    "WP_SPD_DN": ("WPNAV_SPEED_DN", 100.0),
}


def defaults_file_text(params: dict[str, float]) -> str:
    """A SITL defaults file setting ``params``, each renamed parameter under both of its names."""
    values = {name: float(value) for name, value in params.items()}
    for name, (legacy, scale) in LEGACY_PARAM_NAMES.items():
        if name in values and legacy not in values:
            values[legacy] = values[name] * scale
    return "".join(f"{name} {value!r}\n" for name, value in values.items())


def ports_for_instance(instance: int) -> dict[str, int]:
    base = 5760 + 10 * instance
    return {"agent": base, "gcs": base + 2, "serial2": base + 3}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_instance() -> int:
    for instance in range(MAX_INSTANCES):
        if all(_port_free(p) for p in ports_for_instance(instance).values()):
            return instance
    raise EnvironmentFault("no free SITL instance ports (5760+10*i) found",
                           "stop other SITL instances")


def sitl_command(binary: Path, defaults: list[Path], home: tuple[float, float, float],
                 speedup: float, instance: int) -> list[str]:
    lat, lon, alt = home
    return [str(binary), "--model", "+", "--speedup", f"{speedup:g}", "--instance", str(instance),
            "--home", f"{lat!r},{lon!r},{alt!r},0", "--defaults",
            ",".join(str(p) for p in defaults), "-w"]


class SitlProcess:
    """Real ArduCopter SITL as a child process, with SimulatorProcess's interface."""

    def __init__(self, home: tuple[float, float, float] = (51.2705, 0.5227, 30.0), *,
                 speedup: float = 1.0, seed: int = 0, params: Mapping[str, float] | None = None,
                 fast_boot: bool = False, binary: str | os.PathLike[str] | None = None,
                 defaults: str | os.PathLike[str] | None = None) -> None:
        if speedup <= 0:
            raise InputError(f"SitlProcess speedup must be positive, got {speedup}",
                             "use 1 for real time")
        self.home = home
        self.speedup = speedup
        self.params = dict(params or {})
        self.binary = find_binary(binary)
        self.defaults = find_defaults(self.binary, defaults)
        self.ports: dict[str, int] = {}
        self.output: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._dir: Path | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._gcs_open = threading.Event()
        self._serial2_open = threading.Event()

    @property
    def agent_connection(self) -> str:
        return f"tcp:127.0.0.1:{self.ports['agent']}"

    @property
    def gcs_connection(self) -> str:
        """The second port (SERIAL1). Real SITL opens it only once the agent port has a client,
        so this waits (up to ``GCS_PORT_TIMEOUT_S``) until SITL says it is listening."""
        return self._opened(self._gcs_open, "gcs")

    @property
    def camera_connection(self) -> str:
        """A third client for the synthetic camera (SERIAL2; SITL's ports take one client each)."""
        return self._opened(self._serial2_open, "serial2")

    def _opened(self, event: threading.Event, port: str) -> str:
        if not event.wait(GCS_PORT_TIMEOUT_S):
            raise EnvironmentFault(f"ArduPilot SITL did not open its {port} port {self.ports.get(port)}",
                                   "connect a client to agent_connection first; SITL opens its other "
                                   "serial ports after SERIAL0")
        return f"tcp:127.0.0.1:{self.ports[port]}"

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.output.append(line.rstrip("\n"))
            if any(marker in line for marker in READY_MARKERS):
                self._ready.set()
            if any(marker in line for marker in GCS_PORT_MARKERS):
                self._gcs_open.set()
            if any(marker in line for marker in SERIAL2_MARKERS):
                self._serial2_open.set()

    def start(self) -> SitlProcess:
        self._dir = Path(tempfile.mkdtemp(prefix="drone-agent-sitl-"))
        defaults = [self.defaults]
        if self.params:
            extra = self._dir / "extra.parm"
            extra.write_text(defaults_file_text(self.params))
            defaults.append(extra)
        instance = free_instance()
        self.ports = ports_for_instance(instance)
        cmd = sitl_command(self.binary, defaults, self.home, self.speedup, instance)
        self._proc = subprocess.Popen(cmd, cwd=self._dir, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        end = time.monotonic() + START_TIMEOUT_S
        while not self._ready.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > end:
                tail = " | ".join(self.output[-5:])
                self.stop()
                raise EnvironmentFault(f"ArduPilot SITL did not start: {tail or 'no output'}",
                                       f"run {' '.join(cmd)} by hand to see why")
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is not None:
            terminate(proc)
            if self._reader is not None:
                self._reader.join(timeout=2)
            if proc.stdout:
                proc.stdout.close()
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> SitlProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
