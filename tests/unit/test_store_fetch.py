"""Addressing a flight in the store: URLs and object keys that must stay inside the flight."""

from __future__ import annotations

import pytest

from drone_agent.errors import InputError, IntegrityError
from drone_agent.store.fetch import StoreFlight, _relative_path, is_store_url, parse_store_url


def test_url_as_upload_prints_it() -> None:
    flight = parse_store_url("s3://evidence/kent/op-kestrel/20261124T101500Z-3f9a1c2b/")
    assert flight == StoreFlight("evidence", "kent/op-kestrel/20261124T101500Z-3f9a1c2b/")
    assert flight.folder_name == "20261124T101500Z-3f9a1c2b"
    assert flight.url == "s3://evidence/kent/op-kestrel/20261124T101500Z-3f9a1c2b/"
    assert parse_store_url("s3://evidence/op//F1") == StoreFlight("evidence", "op/F1/")


@pytest.mark.parametrize("text", ["s3://", "s3://evidence", "s3://evidence/", "s3:///op/F1",
                                  "s3://evidence/op/../F1", "flights/F1"])
def test_malformed_urls_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="not a flight location"):
        parse_store_url(text)


def test_local_paths_are_not_store_urls() -> None:
    assert is_store_url("s3://evidence/op/F1") and not is_store_url("out/flights/F1")


@pytest.mark.parametrize("rel", ["../outside", "segments/../../x", "/abs", "segments//x/.."])
def test_keys_that_would_leave_the_flight_folder_are_refused(rel: str) -> None:
    flight = StoreFlight("evidence", "op/F1/")
    with pytest.raises(IntegrityError, match="does not name a file inside the flight"):
        _relative_path(flight, flight.key_prefix + rel)
    assert str(_relative_path(flight, "op/F1/segments/000001.mp4.age")) == "segments/000001.mp4.age"
