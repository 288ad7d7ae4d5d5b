"""Parameter set → verify and read, with version-dependent names resolved from the vehicle."""

from __future__ import annotations

import json

import pytest

from drone_agent.agent.ardupilot import WAYPOINT_SPEED
from drone_agent.agent.errors import LinkTimeout, ParameterMismatch
from drone_agent.agent.params import ParamRead, ParamSet, resolve_alias
from drone_agent.agent.session import Peer
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse

PEER = Peer(1, 1, 254, 191)


@pytest.fixture
def real_params(sitl_fixtures) -> dict[str, float]:  # noqa: ANN001
    raw = json.loads((sitl_fixtures / "params_all.json").read_text())
    return {name: entry["value"] for name, entry in raw.items()}


def test_set_and_verify_each_echo(real_params: dict[str, float]) -> None:
    vehicle = FakeAutopilot(params=real_params)
    setter = ParamSet(PEER, {"FENCE_ALT_MAX": 110.0, "FENCE_MARGIN": 2.5, "FENCE_ACTION": 4})
    converse(setter, vehicle, MockClock())
    assert setter.result() is None
    assert (vehicle.params["FENCE_ALT_MAX"], vehicle.params["FENCE_ACTION"]) == (110.0, 4.0)


def test_echo_with_another_value_is_a_mismatch(real_params: dict[str, float]) -> None:
    class Clamping(FakeAutopilot):
        def _on_param_set(self, msg):  # noqa: ANN001, ANN202
            msg.param_value = min(msg.param_value, 100.0)
            return super()._on_param_set(msg)

    setter = ParamSet(PEER, {"FENCE_ALT_MAX": 150.0})
    converse(setter, Clamping(params=real_params), MockClock())
    with pytest.raises(ParameterMismatch, match="FENCE_ALT_MAX: set to 150, vehicle reports 100"):
        setter.result()


def test_unknown_parameter_times_out(real_params: dict[str, float]) -> None:
    setter = ParamSet(PEER, {"WPNAV_SPEED": 500.0}, retries=2)
    clock = MockClock()
    converse(setter, FakeAutopilot(params=real_params), clock)
    with pytest.raises(LinkTimeout, match="WPNAV_SPEED: no PARAM_VALUE after 3 tries"):
        setter.result()
    assert clock() == pytest.approx(3.0)


def test_read_resolves_the_name_this_firmware_uses(real_params: dict[str, float]) -> None:
    names = tuple(name for name, _ in WAYPOINT_SPEED.names)
    reader = ParamRead(PEER, names)
    converse(reader, FakeAutopilot(params=real_params), MockClock())
    values = reader.result()
    assert values["WPNAV_SPEED"] is None and values["WP_SPD"] == 10.0  # ArduCopter 4.8
    assert resolve_alias(WAYPOINT_SPEED, values) == ("WP_SPD", 10.0)
    older = {"WP_SPD": None, "WPNAV_SPEED": 500.0}  # cm/s in older releases
    assert resolve_alias(WAYPOINT_SPEED, older) == ("WPNAV_SPEED", 5.0)
    assert resolve_alias(WAYPOINT_SPEED, {}) is None
