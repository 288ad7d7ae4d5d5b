"""The evidence CLI end to end: keys init, a flight with a real MP4, verify exit codes, decrypt."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from drone_agent.cli import main
from drone_agent.evidence import DeviceKey, EvidenceRecipient, FlightVault


def _tiny_mp4(frames: int = 12) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), i * 20 % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture
def keydir(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEVICE_PASS", "s3cret pass")
    assert main(["keys", "init", "--dir", str(tmp_path / "keys"), "--passphrase-env", "DEVICE_PASS",
                 "--demo-evidence-key"]) == 0
    out = capsys.readouterr().out
    assert "NEVER let this file travel with the aircraft" in out and "evidence-private-key.txt" in out
    return tmp_path / "keys"


@pytest.fixture
def flight(keydir: Path, tmp_path: Path) -> Path:
    key = DeviceKey.load(keydir / "device-key.pem", passphrase="s3cret pass")
    with FlightVault.create(tmp_path / "flights", device_key=key,
                            recipient=EvidenceRecipient.load(keydir / "evidence-recipient.txt"),
                            operation={"name": "Op CLI", "incident_ref": "INC-7", "operator": "PC 7"}) as vault:
        vault.audit.append("trigger_start", trigger_id="t1", who="PC 7", reason="pursuit")
        vault.seal_segment(_tiny_mp4(), {"trigger_id": "t1", "frame_count": 12})
        vault.seal_segment(_tiny_mp4(6), {"trigger_id": "t1", "frame_count": 6})
    return vault.flight_dir


def test_keys_init_refuses_to_overwrite(keydir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "init", "--dir", str(keydir)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (keydir / "device-key.pem").stat().st_mode & 0o777 == 0o600
    assert (keydir / "evidence-private-key.txt").stat().st_mode & 0o777 == 0o600


def test_verify_exit_codes(flight: Path, keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(flight), "--trust-key", str(keydir / "device-key.pub")]) == 0
    assert "INTACT" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    assert main(["verify", str(tmp_path)]) == 2
    capsys.readouterr()
    sealed = flight / "segments/000002.mp4.age"
    sealed.write_bytes(sealed.read_bytes()[:-10])
    assert main(["verify", str(flight), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "TAMPERED" and not report["intact"]
    assert report["problems"] == ["TAMPERED: segments/000002.mp4.age: truncated or replaced: "
                                  f"{sealed.stat().st_size} bytes, the manifest says {sealed.stat().st_size + 10}"]


def test_verify_incomplete_flight_exit_1(keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = DeviceKey.load(keydir / "device-key.pem", passphrase="s3cret pass")
    vault = FlightVault.create(tmp_path / "f", device_key=key,
                               recipient=EvidenceRecipient.load(keydir / "evidence-recipient.txt"), operation={})
    vault.seal_segment(b"x", {})
    assert main(["verify", str(vault.flight_dir)]) == 1
    out = capsys.readouterr().out
    assert "INCOMPLETE BUT INTACT" in out and "flight not closed" in out


def test_decrypt_gives_playable_mp4s_and_summary(flight: Path, keydir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exhibits"
    assert main(["decrypt", str(flight), "--key", str(keydir / "evidence-private-key.txt"), "--out", str(out),
                 "--who", "DC 99 Jones", "--reason", "charging decision"]) == 0
    dest = out / flight.name
    for name, frames in (("segment-000001.mp4", 12), ("segment-000002.mp4", 6)):
        with av.open(str(dest / name)) as container:
            assert sum(1 for _ in container.decode(video=0)) == frames
    summary = (dest / "exhibit-summary.txt").read_text()
    assert "Op CLI" in summary and "pursuit" in summary and "Operator:            PC 7" in summary
    assert "Decrypted by: DC 99 Jones (reason: charging decision)" in summary
    assert main(["decrypt", str(flight), "--key", str(keydir / "evidence-private-key.txt"), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_decrypt_refuses_tampered_flight(flight: Path, keydir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(flight / "segments/000001.mp4.age", flight / "segments/000003.mp4.age")
    rc = main(["decrypt", str(flight), "--key", str(keydir / "evidence-private-key.txt"), "--out", str(tmp_path / "o")])
    assert rc == 1 and "duplicated" in capsys.readouterr().err
    assert main(["decrypt", str(flight), "--key", str(keydir / "evidence-recipient.txt"),
                 "--out", str(tmp_path / "o")]) == 2
