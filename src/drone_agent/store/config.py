"""Where the evidence store is and how uploads behave: the ``[store]`` section and named stores.

A store is resolved, in this order, from

1. ``--store NAME``: the table ``[stores.NAME]`` of the stores file;
2. the operation profile's ``[store]`` section (``use = "NAME"`` starts from a named store, the other
   keys override it);
3. the stores file's ``default = "NAME"``;
4. the environment: ``DRONE_AGENT_STORE_BUCKET`` (and ``DRONE_AGENT_STORE_PREFIX``), with endpoint,
   region and credentials from the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``...).

When both 1 and 2 are given, the profile's keys override the named store's. The stores file is
``--stores-file``, else ``$DRONE_AGENT_STORES``, else ``$XDG_CONFIG_HOME/drone-agent/stores.toml``.
Credentials are never accepted in these files or on the command line: name an AWS profile
(``aws_profile``, optionally with its ``credentials_file``) or use the AWS environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError

DELETE_POLICIES = ("keep", "after_verified")
MIB = 1024 * 1024
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SECRET_KEYS = re.compile(r"secret|password|access_key|session_token|aws_access_key_id", re.I)


class NoStoreConfigured(InputError):
    """Neither --store, a profile's [store], a default store nor DRONE_AGENT_STORE_BUCKET."""


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """One evidence store and the upload behaviour towards it."""

    bucket: str
    name: str = "default"
    endpoint: str | None = None  # None: AWS S3 (or AWS_ENDPOINT_URL)
    prefix: str = ""
    region: str | None = None
    aws_profile: str | None = None
    credentials_file: Path | None = None
    delete_local: str = "keep"
    retention_days: int = 31
    multipart_threshold_mib: int = 64
    part_size_mib: int = 16
    part_concurrency: int = 4
    retries: int = 5
    state_dir: Path | None = None

    @property
    def multipart_threshold_bytes(self) -> int:
        return self.multipart_threshold_mib * MIB

    @property
    def part_size_bytes(self) -> int:
        return self.part_size_mib * MIB

    @property
    def target(self) -> str:
        """Identity of the destination, kept in upload state so a changed store is noticed."""
        return f"{self.endpoint or 'aws'}|{self.bucket}|{self.prefix}"

    def describe(self) -> str:
        where = self.endpoint or "AWS S3"
        prefix = f"/{self.prefix}" if self.prefix else ""
        return f"store '{self.name}' ({where}, bucket {self.bucket}{prefix})"


_KEYS = {f.name for f in fields(StoreConfig)} - {"name"}


def _check_table(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if _SECRET_KEYS.search(key):
            raise InputError(
                f"{where}: key '{key}' looks like a credential; drone-agent never reads credentials "
                "from its own files or the command line",
                "put them in an AWS credentials file and name its profile with 'aws_profile'",
            )
        if key not in allowed:
            raise InputError(
                f"{where}: unknown key '{key}'", f"allowed keys: {', '.join(sorted(allowed))}"
            )


def _build(name: str, table: Mapping[str, Any], where: str, base: StoreConfig | None) -> StoreConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "use":
            continue
        expected: type | tuple[type, ...] = str
        if key in ("retention_days", "multipart_threshold_mib", "part_size_mib", "part_concurrency",
                   "retries"):
            expected = int
        if not isinstance(value, expected) or isinstance(value, bool):
            raise InputError(f"{where}: '{key}' must be a {getattr(expected, '__name__', 'value')}")
        values[key] = Path(value).expanduser() if key in ("credentials_file", "state_dir") else value
    if base is None:
        if "bucket" not in values:
            raise InputError(f"{where}: 'bucket' is missing", "name the S3 bucket of the evidence store")
        cfg = StoreConfig(name=name, **values)
    else:
        cfg = replace(base, name=name, **values)
    return validate(cfg, where)


def validate(cfg: StoreConfig, where: str) -> StoreConfig:
    """Check a store config; InputError naming the field otherwise."""
    if not _BUCKET_RE.match(cfg.bucket):
        raise InputError(
            f"{where}: bucket '{cfg.bucket}' is not a valid S3 bucket name",
            "use 3-63 lower-case letters, digits, dots and hyphens",
        )
    if cfg.delete_local not in DELETE_POLICIES:
        raise InputError(
            f"{where}: delete_local = '{cfg.delete_local}'", f"use one of {', '.join(DELETE_POLICIES)}"
        )
    if cfg.endpoint is not None and not re.match(r"^https?://[^/\s]+/?$", cfg.endpoint):
        raise InputError(f"{where}: endpoint '{cfg.endpoint}' is not an http(s)://host[:port] URL")
    if cfg.prefix.startswith("/") or cfg.prefix.endswith("/") or "//" in cfg.prefix:
        raise InputError(f"{where}: prefix '{cfg.prefix}' must not start/end with '/' or contain '//'")
    if not 1 <= cfg.retention_days <= 36500:
        raise InputError(f"{where}: retention_days must be between 1 and 36500")
    if cfg.part_size_mib < 5 or cfg.part_size_mib > 5120:
        raise InputError(f"{where}: part_size_mib must be 5..5120 (S3 limits)")
    if cfg.multipart_threshold_mib < cfg.part_size_mib or cfg.multipart_threshold_mib > 5120:
        raise InputError(f"{where}: multipart_threshold_mib must be part_size_mib..5120")
    if not 1 <= cfg.part_concurrency <= 16:
        raise InputError(f"{where}: part_concurrency must be 1..16")
    if not 1 <= cfg.retries <= 50:
        raise InputError(f"{where}: retries must be 1..50 (attempts per request)")
    return cfg


def default_stores_file(env: Mapping[str, str] = os.environ) -> Path:
    if env.get("DRONE_AGENT_STORES"):
        return Path(env["DRONE_AGENT_STORES"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "drone-agent" / "stores.toml"


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "drone-agent" / "upload"


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InputError(f"{what} {path} not found", "check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{what} {path}: {exc}", "fix the TOML syntax") from exc


def load_named_stores(path: Path) -> tuple[dict[str, StoreConfig], str | None]:
    """Parse a stores file: ``default = "NAME"`` and ``[stores.NAME]`` tables."""
    data = _read_toml(path, "stores file")
    _check_table(data, str(path), {"default", "stores"})
    stores: dict[str, StoreConfig] = {}
    tables = data.get("stores", {})
    if not isinstance(tables, dict):
        raise InputError(f"{path}: 'stores' must be a table of [stores.NAME] tables")
    for name, table in tables.items():
        where = f"{path} [stores.{name}]"
        if not isinstance(table, dict):
            raise InputError(f"{where} must be a table")
        _check_table(table, where, _KEYS)
        stores[name] = _build(name, table, where, None)
    default = data.get("default")
    if default is not None and default not in stores:
        raise InputError(f"{path}: default store '{default}' is not defined", "add [stores.NAME]")
    return stores, default


def profile_store_section(profile: Path) -> dict[str, Any] | None:
    """The raw ``[store]`` table of an operation profile (other sections belong to other packages)."""
    section = _read_toml(profile, "profile").get("store")
    if section is not None and not isinstance(section, dict):
        raise InputError(f"{profile}: 'store' must be a table")
    return section


def resolve_store(
    *,
    store_name: str | None = None,
    profile: Path | None = None,
    stores_file: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> StoreConfig:
    """The store to use (see the module doc for the order). InputError when none is configured."""
    path = stores_file or default_stores_file(env)
    named: dict[str, StoreConfig] = {}
    default = None
    if stores_file is not None or path.exists():
        named, default = load_named_stores(path)

    def lookup(name: str, where: str) -> StoreConfig:
        if name not in named:
            known = ", ".join(sorted(named)) or "none"
            raise InputError(
                f"{where}: no store named '{name}' in {path} (known: {known})",
                "add a [stores.NAME] table to the stores file or pass --stores-file",
            )
        return named[name]

    section = profile_store_section(profile) if profile is not None else None
    if section is not None:
        where = f"{profile} [store]"
        _check_table(section, where, _KEYS | {"use"})
        base = None
        if store_name is not None:
            base = lookup(store_name, "--store")
        elif "use" in section:
            base = lookup(str(section["use"]), where)
        return _build(base.name if base else "profile", section, where, base)
    if store_name is not None:
        return lookup(store_name, "--store")
    if default is not None:
        return named[default]
    if env.get("DRONE_AGENT_STORE_BUCKET"):
        table = {"bucket": env["DRONE_AGENT_STORE_BUCKET"]}
        if env.get("DRONE_AGENT_STORE_PREFIX"):
            table["prefix"] = env["DRONE_AGENT_STORE_PREFIX"]
        return _build("environment", table, "DRONE_AGENT_STORE_BUCKET", None)
    raise NoStoreConfigured(
        "no evidence store configured",
        f"pass --store NAME (stores file {path}), a profile with a [store] section, "
        "or set DRONE_AGENT_STORE_BUCKET",
    )
