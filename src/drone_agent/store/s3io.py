"""The boto3 adapter: client construction, retries, and S3 failures turned into drone-agent errors.

Retries are ours, not botocore's (its own are off): every call goes through :class:`Retry`, which
retries only transport failures and 5xx answers with a short exponential back-off, so a fault test
can use millisecond delays and an interrupted run ends quickly with a one-line EnvironmentFault; the
next run resumes from the state on disk.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from drone_agent.errors import DroneAgentError, EnvironmentFault, InputError, NotPermitted
from drone_agent.store.config import StoreConfig

T = TypeVar("T")
_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


def make_client(
    cfg: StoreConfig, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0
) -> Any:
    """A boto3 S3 client for ``cfg`` (credentials from the AWS profile/env chain, never argv)."""
    try:
        session = botocore.session.Session(profile=cfg.aws_profile)
        if cfg.credentials_file is not None:
            session.set_config_variable("credentials_file", str(cfg.credentials_file))
        config = Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=max(10, cfg.part_concurrency * 2),
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.Session(botocore_session=session).client(
            "s3", endpoint_url=cfg.endpoint, region_name=cfg.region or None, config=config
        )
    except ProfileNotFound as exc:
        raise InputError(
            f"{cfg.describe()}: AWS profile '{cfg.aws_profile}' not found",
            "fix 'aws_profile' / 'credentials_file' in the store config or AWS_PROFILE",
        ) from exc
    client.meta.events.register("before-sign.s3", _no_expect_continue)
    return client


def _no_expect_continue(request: Any, **_: Any) -> None:
    """Drop ``Expect: 100-continue`` (botocore adds it to bodies over 1 MB). With parallel part
    uploads to SeaweedFS, urllib3 now and then parses the interim 100 response as the final one
    and then waits for the read timeout; without the header the body simply follows."""
    if "Expect" in request.headers:
        del request.headers["Expect"]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(exc: BaseException) -> bool:
    """True for failures a retry (now or on the next run) can cure: transport, 5xx, throttling."""
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return True
    if isinstance(exc, ClientError):
        if error_code(exc) == "NotImplemented" or http_status(exc) == 501:
            return False  # a missing feature, not a hiccup
        return error_code(exc) in _RETRYABLE_CODES or http_status(exc) >= 500
    return False


UPLOAD_RESUME_HINT = "re-run 'drone-agent upload'; it resumes where it stopped and nothing local was deleted"
RERUN_HINT = "run the same command again"


def translate(exc: BaseException, cfg: StoreConfig, doing: str,
              resume: str = UPLOAD_RESUME_HINT) -> DroneAgentError:
    """One drone-agent error (one line, exit code, hint) for a failed S3 call; ``resume`` is the
    hint for transient failures (what to run again)."""
    if isinstance(exc, DroneAgentError):
        return exc
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return InputError(
            f"no credentials for {cfg.describe()} while {doing}",
            "set 'aws_profile' in the store config, or AWS_PROFILE / AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment",
        )
    if isinstance(exc, ProfileNotFound):
        return InputError(f"{cfg.describe()}: {exc}", "fix 'aws_profile' or AWS_PROFILE")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return disk_full(exc, doing, resume)
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_CODES:
            return InputError(
                f"{cfg.describe()} rejected the credentials ({code}) while {doing}",
                "check the access key and secret of the AWS profile in use "
                f"('{cfg.aws_profile or 'default'}') or the AWS_* environment variables",
            )
        if code in ("NoSuchBucket",) or (status == 404 and doing.startswith("checking the bucket")):
            return InputError(
                f"bucket '{cfg.bucket}' does not exist on {cfg.endpoint or 'AWS S3'}",
                "fix 'bucket' in the store config, or have the store administrator run "
                "'drone-agent store init'",
            )
        if code in ("AccessDenied", "AllAccessDisabled", "403") or status == 403:
            return NotPermitted(
                f"{cfg.describe()} refused {doing} ({code or status})",
                "ask the store administrator for the permissions in 'drone-agent store policy'",
            )
        if is_transient(exc):
            return EnvironmentFault(
                f"{cfg.describe()} failed while {doing} ({code} {status} {message})".strip(), resume
            )
        return EnvironmentFault(f"{cfg.describe()}: {code or status} {message} while {doing}", resume)
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return EnvironmentFault(
            f"{cfg.describe()} unreachable while {doing} ({type(exc).__name__})",
            "check the network/VPN or that the store is running; " + resume,
        )
    if isinstance(exc, BotoCoreError):
        return EnvironmentFault(f"{cfg.describe()}: {exc} while {doing}", resume)
    if isinstance(exc, OSError):
        return EnvironmentFault(f"{exc.strerror or exc} while {doing}",
                                "check the file and its permissions; " + resume)
    raise exc


def disk_full(exc: OSError, doing: str, resume: str = UPLOAD_RESUME_HINT) -> EnvironmentFault:
    where = f" ({exc.filename})" if exc.filename else ""
    return EnvironmentFault(f"disk full on this computer while {doing}{where}",
                            f"free some space, then {resume}")


@dataclass(frozen=True, slots=True)
class Retry:
    """Bounded retries of transient failures with exponential back-off."""

    attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[BaseException], None] | None = None) -> T:
        """Run ``fn``; retry transient failures; re-raise the last (or a permanent) one."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                attempt += 1
                if not is_transient(exc) or attempt >= self.attempts:
                    raise
                if on_retry is not None:
                    on_retry(exc)
                self.sleep(min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1))))
