"""Store configuration: named stores, the profile's [store] section, environment; no credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.errors import InputError
from drone_agent.store.config import resolve_store

STORES = """
default = "force"
[stores.force]
endpoint = "https://s3.force.example:9000"
bucket = "drone-evidence"
prefix = "kent/drones"
region = "eu-west-2"
aws_profile = "drone-uploader"
delete_local = "after_verified"
[stores.lab]
bucket = "lab-bucket"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_named_store(tmp_path: Path) -> None:
    cfg = resolve_store(stores_file=_write(tmp_path, "s.toml", STORES), env={})
    assert (cfg.name, cfg.bucket, cfg.prefix, cfg.delete_local) == (
        "force", "drone-evidence", "kent/drones", "after_verified")
    assert cfg.endpoint == "https://s3.force.example:9000" and cfg.aws_profile == "drone-uploader"


def test_store_option_picks_a_named_store(tmp_path: Path) -> None:
    cfg = resolve_store(store_name="lab", stores_file=_write(tmp_path, "s.toml", STORES), env={})
    assert cfg.bucket == "lab-bucket" and cfg.delete_local == "keep" and cfg.retention_days == 31


def test_profile_section_overrides_named_store(tmp_path: Path) -> None:
    stores = _write(tmp_path, "s.toml", STORES)
    profile = _write(tmp_path, "op.toml", '[operation]\nname = "x"\n[store]\nuse = "force"\n'
                                          'delete_local = "keep"\nprefix = "kent/op7"\n')
    cfg = resolve_store(profile=profile, stores_file=stores, env={})
    assert (cfg.name, cfg.bucket, cfg.prefix, cfg.delete_local) == (
        "force", "drone-evidence", "kent/op7", "keep")


def test_profile_section_alone(tmp_path: Path) -> None:
    profile = _write(tmp_path, "op.toml", '[store]\nbucket = "evidence"\npart_size_mib = 8\n')
    cfg = resolve_store(profile=profile, stores_file=None, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.bucket == "evidence" and cfg.part_size_bytes == 8 * 1024 * 1024


def test_environment_fallback(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "DRONE_AGENT_STORE_BUCKET": "env-bucket",
           "DRONE_AGENT_STORE_PREFIX": "p"}
    cfg = resolve_store(env=env)
    assert (cfg.name, cfg.bucket, cfg.prefix, cfg.endpoint) == ("environment", "env-bucket", "p", None)


def test_nothing_configured_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no evidence store configured"):
        resolve_store(env={"XDG_CONFIG_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ('bucket = "b0b"\naws_secret_access_key = "x"', "looks like a credential"),
        ('bucket = "b0b"\nsecret_key = "x"', "looks like a credential"),
        ('bucket = "b0b"\ncolour = "red"', "unknown key 'colour'"),
        ('bucket = "B_Bad"', "not a valid S3 bucket name"),
        ('bucket = "b0b"\ndelete_local = "always"', "delete_local"),
        ('bucket = "b0b"\nendpoint = "ftp://x"', "endpoint"),
        ('bucket = "b0b"\nprefix = "/abs"', "prefix"),
        ('bucket = "b0b"\npart_size_mib = 1', "part_size_mib"),
        ('bucket = "b0b"\nretention_days = "31"', "retention_days"),
        ('endpoint = "http://127.0.0.1:9"', "'bucket' is missing"),
    ],
)
def test_bad_store_tables_name_the_field(tmp_path: Path, table: str, match: str) -> None:
    stores = _write(tmp_path, "s.toml", f"[stores.x]\n{table}\n")
    with pytest.raises(InputError, match=match):
        resolve_store(store_name="x", stores_file=stores, env={})


def test_unknown_named_store_lists_known(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no store named 'nope'.*known: force, lab"):
        resolve_store(store_name="nope", stores_file=_write(tmp_path, "s.toml", STORES), env={})


def test_missing_stores_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        resolve_store(stores_file=tmp_path / "absent.toml", env={})
    with pytest.raises(InputError, match="line 1"):
        resolve_store(stores_file=_write(tmp_path, "bad.toml", "[stores\n"), env={})


def test_stores_file_from_environment(tmp_path: Path) -> None:
    stores = _write(tmp_path, "elsewhere.toml", STORES)
    assert resolve_store(env={"DRONE_AGENT_STORES": str(stores)}).name == "force"
