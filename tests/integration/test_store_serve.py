"""``drone-agent store serve`` in the foreground and the EmbeddedStore process lifecycle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drone_agent.errors import EnvironmentFault
from drone_agent.store import EmbeddedStore
from drone_agent.store.embedded import find_weed

pytestmark = pytest.mark.slow


def test_find_weed_returns_an_executable() -> None:
    weed = find_weed()
    assert os.access(weed, os.X_OK)


def test_port_in_use_is_environment_fault(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        store = EmbeddedStore(tmp_path / "d", s3_port=busy.getsockname()[1])
        with pytest.raises(EnvironmentFault, match="already in use"):
            store.start()
        assert not store.running


def test_serve_foreground_prints_endpoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "store"
    cmd = [sys.executable, "-m", "drone_agent", "store", "serve", "--dir", str(data)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C to stop"):
                break
        text = "".join(lines)
        assert "running at http://127.0.0.1:" in text, text
        assert f"credentials: {data / 'credentials'}" in text and "0600" in text
        assert "legal hold" in text and "lifecycle expiry" in text
        endpoint = text.split("running at ", 1)[1].split()[0]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "stopping the evidence store" in out
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket() as probe:  # nothing listens any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    # the same data dir again: same endpoint, same credentials, data kept
    with EmbeddedStore(data) as again:
        assert again.endpoint_url == endpoint
        assert again.client().head_bucket(Bucket="evidence")
