"""Upload state and queue on disk: survives restarts, atomic, disk full is a one-line error."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from drone_agent.errors import EnvironmentFault
from drone_agent.store import state as state_mod
from drone_agent.store.state import StateDir


def test_enqueue_persists_and_pending_survives_a_new_instance(tmp_path: Path) -> None:
    flights = [tmp_path / "out" / f"20261124T10{i}000Z-0000000{i}" for i in range(3)]
    for f in flights:
        f.mkdir(parents=True)
    states = StateDir(tmp_path / "state")
    for f in flights:
        states.enqueue(f)
    states.load(flights[1].name).set_status("uploaded")  # type: ignore[union-attr]
    again = StateDir(tmp_path / "state")  # "after a restart"
    assert [s.flight_id for s in again.pending()] == [flights[0].name, flights[2].name]
    assert again.enqueue(flights[1]).status == "uploaded"  # re-enqueue keeps progress
    mode = os.stat(again.path_for(flights[0].name)).st_mode & 0o777
    assert mode == 0o600


def test_parts_are_recorded_durably(tmp_path: Path) -> None:
    flight = tmp_path / "F1"
    flight.mkdir()
    st = StateDir(tmp_path / "s").enqueue(flight)
    st.file("seg.bin").update(upload_id="u1")
    st.record_part("seg.bin", 2, '"etag2"')
    data = json.loads(st.path.read_text())
    assert data["files"]["seg.bin"] == {"upload_id": "u1", "parts": {"2": '"etag2"'}}
    assert not list(st.path.parent.glob("*.tmp"))


def test_disk_full_is_environment_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flight = tmp_path / "F1"
    flight.mkdir()
    states = StateDir(tmp_path / "s")
    st = states.enqueue(flight)

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(state_mod, "_atomic_write", full)
    with pytest.raises(EnvironmentFault, match="disk full") as exc:
        st.set_status("uploading")
    assert exc.value.exit_code == 5 and "free some space" in exc.value.one_line()


def test_unreadable_state_names_the_file(tmp_path: Path) -> None:
    states = StateDir(tmp_path / "s")
    states.flights.mkdir(parents=True)
    states.path_for("F1").write_text("{not json")
    with pytest.raises(Exception, match="F1.json"):
        states.load("F1")
