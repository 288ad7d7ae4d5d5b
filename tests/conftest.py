"""Shared test fixtures: the location of the read-only ArduPilot SITL fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SITL_FIXTURES = REPO.parent / "shared" / "fixtures" / "ardupilot-sitl"


@pytest.fixture(scope="session")
def sitl_fixtures() -> Path:
    """Real ArduCopter SITL logs (../shared/fixtures/ardupilot-sitl); skips where absent."""
    if not SITL_FIXTURES.is_dir():
        pytest.skip(f"real SITL fixtures not found at {SITL_FIXTURES}")
    return SITL_FIXTURES


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the upload queue (XDG_STATE_HOME) of every test out of the user's home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
