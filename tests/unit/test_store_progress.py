"""Progress output: plain lines when not on a terminal; the example policy on the command line."""

from __future__ import annotations

import io
import json

import pytest

from drone_agent.cli import main
from drone_agent.store.progress import LineProgress, RichProgress, for_stream


def test_line_progress_when_not_a_tty() -> None:
    stream = io.StringIO()
    progress = for_stream(stream)
    assert isinstance(progress, LineProgress)
    progress.flight_started("F1", 2, 2_500_000)
    progress.file_started("a.bin", 10)
    progress.advanced("a.bin", 10)
    progress.file_finished("a.bin", "uploaded")
    progress.flight_finished("F1", "2 objects verified")
    assert stream.getvalue().splitlines() == [
        "upload F1: 2 files, 2.5 MB", "upload F1: a.bin uploaded", "upload F1: 2 objects verified"]


def test_rich_progress_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = for_stream(stream)
    assert isinstance(progress, RichProgress)
    progress.flight_started("F1", 1, 10)
    progress.file_started("a.bin", 10)
    progress.advanced("a.bin", 10)
    progress.file_finished("a.bin", "uploaded")
    progress.flight_finished("F1", "1 objects verified")
    assert "a.bin: uploaded" in stream.getvalue() and "F1: 1 objects verified" in stream.getvalue()


def test_store_policy_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "policy", "--bucket", "evidence", "--prefix", "kent", "--operation",
                 "Op Kestrel", "--uploader", "arn:aws:iam::1:user/up", "--officer",
                 "arn:aws:iam::1:user/dc1"]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17" and len(policy["Statement"]) >= 5


def test_upload_needs_a_flight_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload"]) == 2
    assert "pass FLIGHT_DIR" in capsys.readouterr().err
