"""SitlProcess: binary and defaults discovery, command line, start/stop (with a stand-in binary)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.sim.sitl import (SitlProcess, defaults_file_text, find_binary, find_defaults,
                                  ports_for_instance, sitl_command)

pytestmark = pytest.mark.slow

FAKE = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_SITL_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "cwd": os.getcwd(),
               "extra": open(sys.argv[sys.argv.index("--defaults") + 1].split(",")[-1]).read()}}, f)
print("bind port 5760 for SERIAL0", flush=True)
print("Serial port 0 on TCP port 5760", flush=True)
print("Waiting for connection ....", flush=True)
if os.environ.get("FAKE_SITL_SERIAL1"):
    time.sleep(0.3)  # real SITL opens SERIAL1 only after SERIAL0 has a client
    print("SERIAL1 on TCP port 5762", flush=True)
time.sleep(60)
"""


@pytest.fixture()
def fake_tree(tmp_path: Path) -> Path:
    binary = tmp_path / "ardupilot" / "build" / "sitl" / "bin" / "arducopter"
    binary.parent.mkdir(parents=True)
    binary.write_text(FAKE.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    parm = tmp_path / "ardupilot" / "Tools" / "autotest" / "default_params" / "copter.parm"
    parm.parent.mkdir(parents=True)
    parm.write_text("FRAME_CLASS 1\n")
    return binary


def test_binary_and_defaults_discovery(fake_tree: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ARDUPILOT_SITL", raising=False)
    with pytest.raises(EnvironmentFault, match="ARDUPILOT_SITL is not set"):
        find_binary()
    with pytest.raises(EnvironmentFault, match="not an executable"):
        find_binary(tmp_path / "nope")
    monkeypatch.setenv("ARDUPILOT_SITL", str(fake_tree))
    assert find_binary() == fake_tree
    assert find_defaults(fake_tree).name == "copter.parm"
    with pytest.raises(InputError):
        find_defaults(fake_tree, tmp_path / "missing.parm")
    lone = tmp_path / "lone" / "arducopter"
    lone.parent.mkdir()
    lone.write_text("")
    with pytest.raises(EnvironmentFault, match="no copter.parm"):
        find_defaults(lone)


def test_command_line_and_ports():
    cmd = sitl_command(Path("/x/arducopter"), [Path("/a.parm"), Path("/b.parm")],
                       (51.2705, 0.5227, 30.0), 5.0, 2)
    assert cmd[cmd.index("--home") + 1] == "51.2705,0.5227,30.0,0"
    assert cmd[cmd.index("--defaults") + 1] == "/a.parm,/b.parm"
    assert cmd[cmd.index("--speedup") + 1] == "5" and "-w" in cmd
    assert ports_for_instance(2) == {"agent": 5780, "gcs": 5782, "serial2": 5783}


def test_renamed_parameters_are_written_under_both_names():
    text = defaults_file_text({"WP_SPD": 12, "WP_SPD_UP": 3.0, "FENCE_ENABLE": 1})
    assert text.splitlines() == ["WP_SPD 12.0", "WP_SPD_UP 3.0", "FENCE_ENABLE 1.0",
                                 "WPNAV_SPEED 1200.0", "WPNAV_SPEED_UP 300.0"]
    assert defaults_file_text({"WP_SPD": 12, "WPNAV_SPEED": 500}).splitlines() == [
        "WP_SPD 12.0", "WPNAV_SPEED 500.0"]  # an explicit legacy value wins


def test_start_waits_for_sitl_and_stop_cleans_up(fake_tree: Path, tmp_path: Path, monkeypatch):
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_SITL_RECORD", str(record))
    with SitlProcess(speedup=3, params={"FENCE_ENABLE": 1}, binary=fake_tree) as sitl:
        info = json.loads(record.read_text())
        assert sitl.agent_connection.endswith(str(sitl.ports["agent"]))
        assert sitl.ports["gcs"] == sitl.ports["agent"] + 2
        assert info["extra"] == "FENCE_ENABLE 1.0\n"
        assert Path(info["cwd"]).is_dir()
        assert any("Serial port 0 on TCP port" in line for line in sitl.output)
        pid = sitl._proc.pid
    assert not Path(info["cwd"]).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_gcs_connection_waits_for_sitl_to_open_serial1(fake_tree: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FAKE_SITL_RECORD", str(tmp_path / "record.json"))
    monkeypatch.setenv("FAKE_SITL_SERIAL1", "1")
    with SitlProcess(binary=fake_tree) as sitl:
        assert sitl.gcs_connection == f"tcp:127.0.0.1:{sitl.ports['gcs']}"
        assert any("SERIAL1 on TCP port" in line for line in sitl.output)
    monkeypatch.delenv("FAKE_SITL_SERIAL1")
    monkeypatch.setattr("drone_agent.sim.sitl.GCS_PORT_TIMEOUT_S", 0.5)
    with SitlProcess(binary=fake_tree) as sitl, pytest.raises(EnvironmentFault, match="did not open its gcs port"):
        sitl.gcs_connection  # noqa: B018 -- the property is what waits


def test_start_failure_is_reported(tmp_path: Path):
    binary = tmp_path / "arducopter"
    binary.write_text("#!/bin/sh\necho 'bad option' ; exit 3\n")
    binary.chmod(0o755)
    parm = tmp_path / "copter.parm"
    parm.write_text("")
    with pytest.raises(EnvironmentFault, match="bad option"):
        SitlProcess(binary=binary).start()
