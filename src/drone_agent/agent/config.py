"""The profile's ``[link]`` table: who the agent is on MAVLink and how it signs.

======================  =========  ==============================================================
key                     default    meaning
======================  =========  ==============================================================
system_id               254        our MAVLink system id. Not 255: ArduPilot counts heartbeats from
                                   SYSID_MYGCS (255) as the ground station's, and an agent posing
                                   as the GCS would mask a real GCS-link failsafe
component_id            191        MAV_COMP_ID_ONBOARD_COMPUTER; distinct from a GCS (190) and a
                                   MAVProxy (230) so all coexist on other connections
signing_key_file        (none)     32-byte MAVLink 2 signing key (raw or 64 hex digits), relative
                                   to the profile; enables signing
link_timeout_s          1.5        silence from the autopilot before the link counts as lost
connect_timeout_s       30         how long to wait for the first autopilot heartbeat
======================  =========  ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError

LINK_KEYS = ("system_id", "component_id", "signing_key_file", "link_timeout_s", "connect_timeout_s")


@dataclass(frozen=True, slots=True)
class LinkConfig:
    system_id: int = 254
    component_id: int = 191
    signing_key_file: Path | None = None
    link_timeout_s: float = 1.5
    connect_timeout_s: float = 30.0


def link_config_from_table(
    table: Mapping[str, Any] | None, base_dir: Path, source: str = "profile"
) -> LinkConfig:
    """Parse ``[link]``; unknown keys and bad values are input errors."""
    table = dict(table or {})
    unknown = set(table) - set(LINK_KEYS)
    if unknown:
        raise InputError(f"{source} [link]: unknown key(s) {', '.join(sorted(unknown))}",
                         f"known keys: {', '.join(LINK_KEYS)}")
    values: dict[str, Any] = {}
    for key, low, high in (("system_id", 1, 255), ("component_id", 1, 255)):
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InputError(f"{source} [link] {key} = {value!r}", f"give an integer {low}-{high}")
            values[key] = value
    for key, high in (("link_timeout_s", 10.0), ("connect_timeout_s", 600.0)):
        if key in table:
            value = table[key]
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= high:
                raise InputError(f"{source} [link] {key} = {value!r}", f"give seconds in (0, {high:g}]")
            values[key] = float(value)
    if "signing_key_file" in table:
        value = table["signing_key_file"]
        if not isinstance(value, str) or not value:
            raise InputError(f"{source} [link] signing_key_file = {value!r}", "give a file path")
        values["signing_key_file"] = (base_dir / value).resolve()
    return LinkConfig(**values)
