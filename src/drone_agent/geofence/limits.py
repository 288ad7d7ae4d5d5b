"""The limits profile: CAA open-category defaults, profile overrides, authorised limits.

Resolution order for every value: the built-in default (with its legal/engineering basis), then the
profile's ``[limits]`` table, then ``[authorised_limits]``. Every value that differs from its default
is recorded as a :class:`LimitOverride` saying where it came from, so the summary and the audit log
can show exactly which limits were in force and why.

``[limits]`` may make the legal limits stricter (a lower ceiling, a shorter VLOS range) and tune the
engineering values (margins, stopping model). Raising the height ceiling or the VLOS range above the
CAA defaults is only possible in ``[authorised_limits]``, which takes effect only when it names its
``authority_ref`` (e.g. the force's CAA operational authorisation); without it the flight is not
permitted (exit 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from drone_agent.errors import InputError, NotPermitted

#: key -> (default, basis). The basis is printed by ``drone-agent check`` and written to the audit log.
DEFAULTS: dict[str, tuple[float, str]] = {
    "max_height_agl_m": (
        120.0,
        "CAA: 120 m from the closest point of the surface (UK Reg (EU) 2019/947 Art 4(1)(e), Drone Code)",
    ),
    "vlos_max_m": (500.0, "CAA VLOS convention: 500 m horizontally from the remote pilot"),
    "horizontal_margin_m": (5.0, "drone-agent: GNSS error (~2-3 m) + ArduPilot FENCE_MARGIN default 2 m"),
    "vertical_margin_m": (5.0, "drone-agent: baro/GNSS height error; 120 m - 5 m = 115 m soft ceiling"),
    "reaction_latency_s": (1.0, "drone-agent: 10 Hz telemetry + link + decision + controller response"),
    "braking_decel_mps2": (
        2.5,
        "ArduCopter LOIT_BRK_ACCEL default 250 cm/s/s; SITL BRAKE from 9.96 m/s stopped in 19.4 m (~2.56 m/s/s)",
    ),
    "breach_horizon_s": (30.0, "drone-agent: look-ahead for time-to-breach (4x the 7 s stop from 15 m/s)"),
}
#: Legal limits: [limits] may only lower them; raising needs [authorised_limits].
LEGAL_KEYS = ("max_height_agl_m", "vlos_max_m")
#: Sanity bounds (inclusive) even with an authorisation: ArduPilot FENCE_ALT_MAX <= 1000 m; the
#: local frame is documented for 10 km.
BOUNDS: dict[str, tuple[float, float]] = {
    "max_height_agl_m": (10.0, 1000.0),
    "vlos_max_m": (30.0, 10_000.0),
    "horizontal_margin_m": (0.0, 100.0),
    "vertical_margin_m": (0.0, 50.0),
    "reaction_latency_s": (0.0, 10.0),
    "braking_decel_mps2": (0.1, 20.0),
    "breach_horizon_s": (1.0, 600.0),
}
AUTHORISED_TEXT_KEYS = ("authority_ref", "granted_by", "note")


@dataclass(frozen=True, slots=True)
class LimitOverride:
    key: str
    default: float
    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Resolved limits. ``sources[key]`` says where each value came from."""

    max_height_agl_m: float = DEFAULTS["max_height_agl_m"][0]
    vlos_max_m: float = DEFAULTS["vlos_max_m"][0]
    horizontal_margin_m: float = DEFAULTS["horizontal_margin_m"][0]
    vertical_margin_m: float = DEFAULTS["vertical_margin_m"][0]
    reaction_latency_s: float = DEFAULTS["reaction_latency_s"][0]
    braking_decel_mps2: float = DEFAULTS["braking_decel_mps2"][0]
    breach_horizon_s: float = DEFAULTS["breach_horizon_s"][0]
    authority_ref: str | None = None
    overrides: tuple[LimitOverride, ...] = ()
    sources: Mapping[str, str] = field(default_factory=lambda: {k: v[1] for k, v in DEFAULTS.items()})

    @property
    def soft_ceiling_agl_m(self) -> float:
        return self.max_height_agl_m - self.vertical_margin_m

    def as_record(self) -> dict[str, Any]:
        """Values, sources and overrides, for the audit log's ``config`` event."""
        return {
            "values": {k: getattr(self, k) for k in DEFAULTS},
            "sources": dict(self.sources),
            "authority_ref": self.authority_ref,
            "overrides": [
                {"key": o.key, "default": o.default, "value": o.value, "source": o.source} for o in self.overrides
            ],
        }


def _value(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{where} {key} = {value!r} is not a number", f"give {key} as a number")
    low, high = BOUNDS[key]
    if not low <= value <= high:
        raise InputError(f"{where} {key} = {value} is outside {low:g}..{high:g}", f"give {key} within {low:g}..{high:g}")
    return float(value)


def resolve_limits(
    limits_table: Mapping[str, Any] | None,
    authorised_table: Mapping[str, Any] | None,
    source: str = "profile",
) -> Limits:
    """Apply ``[limits]`` then ``[authorised_limits]`` to the defaults (see module docstring)."""
    values = {k: v[0] for k, v in DEFAULTS.items()}
    sources = {k: v[1] for k, v in DEFAULTS.items()}
    overrides: list[LimitOverride] = []
    where = f"{source} [limits]"
    limits_table = dict(limits_table or {})
    unknown = set(limits_table) - set(DEFAULTS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", f"known keys: {', '.join(DEFAULTS)}")
    for key in DEFAULTS:
        if key not in limits_table:
            continue
        value = _value(limits_table, key, where)
        if key in LEGAL_KEYS and value > DEFAULTS[key][0]:
            raise NotPermitted(
                f"{where} {key} = {value:g} is above the CAA default {DEFAULTS[key][0]:g} without an authorisation",
                "lower it, or put it in [authorised_limits] with the authority_ref of your operational authorisation",
            )
        values[key], sources[key] = value, f"{where}"
        overrides.append(LimitOverride(key, DEFAULTS[key][0], value, where))
    authority_ref = None
    if authorised_table:
        where = f"{source} [authorised_limits]"
        unknown = set(authorised_table) - set(LEGAL_KEYS) - set(AUTHORISED_TEXT_KEYS)
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                f"known keys: {', '.join(AUTHORISED_TEXT_KEYS + LEGAL_KEYS)}",
            )
        for key in AUTHORISED_TEXT_KEYS:
            if key in authorised_table and not isinstance(authorised_table[key], str):
                raise InputError(f"{where} {key} is not a string", f'write {key} = "..."')
        raised = [k for k in LEGAL_KEYS if k in authorised_table]
        ref = str(authorised_table.get("authority_ref", "")).strip()
        if raised and not ref:
            raise NotPermitted(
                f"{where} raises {', '.join(raised)} but names no authority_ref, so it does not take effect",
                'add authority_ref = "<operational authorisation / permission reference>"',
            )
        authority_ref = ref or None
        for key in raised:
            value = _value(authorised_table, key, where)
            label = f"{where} (authority {ref})"
            values[key], sources[key] = value, label
            overrides.append(LimitOverride(key, DEFAULTS[key][0], value, label))
    if values["horizontal_margin_m"] * 2 >= values["vlos_max_m"]:
        raise InputError(f"{source}: horizontal_margin_m leaves no room inside vlos_max_m", "use a smaller margin")
    if values["vertical_margin_m"] * 2 >= values["max_height_agl_m"]:
        raise InputError(f"{source}: vertical_margin_m leaves no room below max_height_agl_m", "use a smaller margin")
    return replace(Limits(), **values, authority_ref=authority_ref, overrides=tuple(overrides), sources=sources)

