"""Post-flight report: a real sealed flight folder in, a self-contained HTML page and a PNG map out."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.cli import main
from drone_agent.evidence import DeviceKey, EvidenceIdentity, FlightVault
from drone_agent.report.map_image import RECORDING_BGR, TRACK_BGR

HOME_LAT, HOME_LON = 51.2705, 0.5227
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


class SteppedClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def write_tlog(path: Path, seconds: int) -> None:
    """A straight leg 0 -> 150 m north at 30 m, 10 Hz, as the autopilot (1, 1) reports it."""
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    with path.open("wb") as fh:
        for i in range(seconds * 10):
            t = T0 + timedelta(seconds=i / 10)
            north_m = 150.0 * i / (seconds * 10)
            msg = mavlink.MAVLink_global_position_int_message(
                i * 100, int((HOME_LAT + north_m / 111_320) * 1e7), int(HOME_LON * 1e7), 60_000, 30_000,
                0, 500, 0, 0)
            fh.write(struct.pack(">Q", int(t.timestamp() * 1e6)) + msg.pack(mav))


@pytest.fixture()
def flight_dir(tmp_path: Path) -> Path:
    clock = SteppedClock()
    identity = EvidenceIdentity.generate()
    vault = FlightVault.create(tmp_path / "flights", DeviceKey.generate(), identity.recipient,
                               {"name": "Op Example", "incident_ref": "KP-2026-001"}, clock=clock)

    def at(seconds: float, event: str, **fields: object) -> None:
        clock.now = T0 + timedelta(seconds=seconds)
        vault.audit.append(event, **fields)

    at(2, "guard_warn", reason="operation area 40 m ahead", zone="Operation area")
    at(5, "trigger_start", source="mavlink_camera", operator="GCS 255", reason="suspect vehicle",
       incident_ref="KP-2026-001", trigger_id="t1")
    clock.now = T0 + timedelta(seconds=9)
    vault.seal_segment(b"\x00\x00\x00\x18ftypmp42 not a real video", {
        "start_utc": "2026-11-24T10:00:05Z", "end_utc": "2026-11-24T10:00:09Z", "frame_count": 120,
        "trigger_id": "t1", "masked_zones": ["Garden of No. 12"], "full_frame_masked": 0})
    at(10, "trigger_stop", source="mavlink_camera", operator="GCS 255", trigger_id="t1")
    at(12, "guard_stop", reason="time to breach 3.1 s < stopping time 3.4 s", action="BRAKE")
    write_tlog(vault.flight_dir / "telemetry.tlog", 15)
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "operation_area", "name": "Operation area"},
         "geometry": {"type": "Polygon", "coordinates": [[[0.519, 51.269], [0.526, 51.269], [0.526, 51.2725],
                                                         [0.519, 51.2725], [0.519, 51.269]]]}},
        {"type": "Feature", "properties": {"kind": "privacy", "name": "Garden of No. 12"},
         "geometry": {"type": "Point", "coordinates": [0.5227, 51.2712]}},
    ]}
    zones["features"][1]["properties"]["radius_m"] = 25
    (vault.flight_dir / "zones.geojson").write_text(json.dumps(zones))
    vault.attach_file("telemetry.tlog")
    vault.attach_file("zones.geojson")
    clock.now = T0 + timedelta(seconds=15)
    vault.close()
    return vault.flight_dir


def test_report_shows_evidence_recording_guard_and_verdict(flight_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(flight_dir), "--out", str(out)]) == 0
    page = out.read_text()
    assert "INTACT" in page and "TAMPERED" not in page
    assert "suspect vehicle" in page and "mavlink_camera" in page and "4.0 s" not in page
    assert "5.0 s" in page  # trigger on for 5 s
    assert "Garden of No. 12" in page and "KP-2026-001" in page
    assert "guard_stop" in page and "time to breach 3.1 s" in page
    summary = __import__("drone_agent.evidence", fromlist=["x"]).read_flight_summary(flight_dir)
    assert summary.segments[0].ciphertext_sha256 in page
    assert "http://" not in page and "https://" not in page  # self-contained
    image = cv2.imread(str(out.with_suffix(".png")))
    assert image is not None and image.shape[1] >= 800
    for colour in (TRACK_BGR, RECORDING_BGR):
        assert np.all(image == np.array(colour, np.uint8), axis=2).sum() > 50, colour
    assert not (flight_dir / "report.html").exists()  # the evidence folder is never written to


def test_report_of_tampered_flight_says_so(flight_dir: Path, tmp_path: Path) -> None:
    segment = next((flight_dir / "segments").iterdir())
    data = bytearray(segment.read_bytes())
    data[-5] ^= 1
    segment.write_bytes(bytes(data))
    out = tmp_path / "report.html"
    assert main(["report", str(flight_dir), "--out", str(out)]) == 0
    page = out.read_text()
    assert "TAMPERED" in page and segment.name in page


def test_report_of_a_folder_that_is_no_flight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a flight folder" in err and "\n" == err[-1] and err.count("\n") == 1


def _chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and installing it needs root (apt-get install chromium)")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            pytest.skip(f"could not install chromium from Debian's packages: {done.stderr[-200:]}")
    return shutil.which("chromium") or pytest.skip("chromium not on PATH after install")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(flight_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(flight_dir), "--out", str(out)]) == 0
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000", f"--screenshot={shot}",
         out.as_uri()], check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2000, 1280)
    # the embedded map was decoded and drawn: its recording colour appears on the page
    assert np.all(image == np.array(RECORDING_BGR, np.uint8), axis=2).sum() > 50
