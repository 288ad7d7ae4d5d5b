"""Connection strings as MAVProxy users write them."""

from __future__ import annotations

import pytest

from drone_agent.agent.transport import Endpoint, parse_connection
from drone_agent.errors import InputError


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("tcp:127.0.0.1:5760", Endpoint("tcp", "127.0.0.1", 5760)),
        ("udp:0.0.0.0:14550", Endpoint("udpin", "0.0.0.0", 14550)),
        ("udpin:127.0.0.1:14551", Endpoint("udpin", "127.0.0.1", 14551)),
        ("udpout:10.0.0.2:14550", Endpoint("udpout", "10.0.0.2", 14550)),
        ("/dev/ttyUSB0", Endpoint("serial", device="/dev/ttyUSB0", baud=115200)),
        ("/dev/ttyACM0,57600", Endpoint("serial", device="/dev/ttyACM0", baud=57600)),
        ("COM3,921600", Endpoint("serial", device="COM3", baud=921600)),
        ("serial:/dev/serial0:57600", Endpoint("serial", device="/dev/serial0", baud=57600)),
    ],
)
def test_connection_strings(text: str, endpoint: Endpoint) -> None:
    assert parse_connection(text) == endpoint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tcp:127.0.0.1", "needs HOST:PORT"),
        ("udp:host:99999", "port 1-65535"),
        ("http://x", "unknown kind"),
        ("5760", "unknown kind"),
        ("/dev/ttyUSB0,fast", "baud rate 'fast'"),
    ],
)
def test_bad_connection_strings_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        parse_connection(text)
    assert "tcp:HOST:PORT" in exc.value.hint


def test_endpoint_prints_back_as_a_connection_string() -> None:
    assert str(parse_connection("udp:0.0.0.0:14550")) == "udpin:0.0.0.0:14550"
    assert str(parse_connection("/dev/ttyUSB0,57600")) == "/dev/ttyUSB0,57600"
