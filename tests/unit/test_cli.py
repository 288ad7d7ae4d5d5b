"""The CLI shell: help, version, usage errors as one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drone_agent import __version__
from drone_agent.cli import main
from drone_agent.errors import DroneAgentError, InputError, NotPermitted


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("input: ") and "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: drone-agent" in capsys.readouterr().out


def test_error_one_line_names_who_and_hint() -> None:
    err = InputError("zones.geojson feature 3 'School': ring not closed", "repeat the first position last")
    assert err.one_line() == (
        "input: zones.geojson feature 3 'School': ring not closed -- repeat the first position last"
    )
    assert err.exit_code == 2 and NotPermitted("x").exit_code == 3
    assert issubclass(InputError, DroneAgentError)


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "drone_agent", "--help"], capture_output=True, text=True, check=True
    )
    assert "drone-agent" in out.stdout
