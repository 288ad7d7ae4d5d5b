"""``[link]`` parsing and ``fly``'s input errors (all before any connection is made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.agent.config import LinkConfig, link_config_from_table
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.cli import main
from drone_agent.errors import InputError


def test_link_defaults_and_values(tmp_path: Path) -> None:
    assert link_config_from_table(None, tmp_path) == LinkConfig()
    config = link_config_from_table(
        {"system_id": 250, "component_id": 195, "signing_key_file": "link.key",
         "link_timeout_s": 1.0}, tmp_path)
    assert (config.system_id, config.component_id, config.link_timeout_s) == (250, 195, 1.0)
    assert config.signing_key_file == (tmp_path / "link.key").resolve()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"sysid": 1}, "unknown key"),
        ({"system_id": 0}, "system_id = 0"),
        ({"component_id": True}, "component_id = True"),
        ({"link_timeout_s": 0}, "link_timeout_s = 0"),
        ({"connect_timeout_s": "30"}, "connect_timeout_s = '30'"),
        ({"signing_key_file": ""}, "signing_key_file"),
    ],
)
def test_link_bad_values(tmp_path: Path, table: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        link_config_from_table(table, tmp_path)


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    path = tmp_path / "z.geojson"
    rectangle_zone_file(path, 51.27, 0.52, north_m=100, south_m=100, east_m=100, west_m=100)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.strip()


def test_fly_needs_config_or_zones(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, "fly", "--connect", "tcp:127.0.0.1:5760")
    assert code == 2 and "one of the arguments --config --zones is required" in err


def test_fly_bad_takeoff(capsys: pytest.CaptureFixture[str], zones: Path) -> None:
    code, err = run_cli(capsys, "fly", "--zones", str(zones), "--connect", "tcp:127.0.0.1:5760",
                        "--takeoff", "-5")
    assert code == 2 and err == "input: --takeoff -5 must be > 0 -- give --takeoff a positive number"


def test_fly_bad_connection(capsys: pytest.CaptureFixture[str], zones: Path, tmp_path: Path) -> None:
    code, err = run_cli(capsys, "fly", "--zones", str(zones), "--connect", "ftp:x",
                        "--keys", str(tmp_path))
    assert code == 2 and err.startswith("input: connection 'ftp:x': unknown kind")


def test_fly_missing_keys(capsys: pytest.CaptureFixture[str], zones: Path, tmp_path: Path) -> None:
    code, err = run_cli(capsys, "fly", "--zones", str(zones), "--connect", "tcp:127.0.0.1:5760",
                        "--keys", str(tmp_path / "nowhere"))
    assert code == 2 and "device key" in err and "\n" not in err


def test_fly_bad_signing_key(capsys: pytest.CaptureFixture[str], zones: Path, tmp_path: Path) -> None:
    key = tmp_path / "short.key"
    key.write_bytes(b"123")
    code, err = run_cli(capsys, "fly", "--zones", str(zones), "--connect", "tcp:127.0.0.1:5760",
                        "--signing-key", str(key))
    assert code == 2 and "expected 32 raw bytes or 64 hex digits" in err


def test_fly_sysid_zero_is_refused_not_ignored(capsys: pytest.CaptureFixture[str], zones: Path,
                                               tmp_path: Path) -> None:
    assert main(["keys", "init", "--dir", str(tmp_path / "k"), "--demo-evidence-key"]) == 0
    capsys.readouterr()
    code, err = run_cli(capsys, "fly", "--zones", str(zones), "--connect", "tcp:127.0.0.1:9",
                        "--keys", str(tmp_path / "k"), "--out", str(tmp_path / "f"), "--sysid", "0")
    assert code == 2 and "MAVLink ids 0/191 out of range" in err
