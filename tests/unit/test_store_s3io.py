"""S3 failures become one-line drone-agent errors with the documented exit codes; retries."""

from __future__ import annotations

import errno

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from drone_agent.errors import EnvironmentFault, InputError, IntegrityError, NotPermitted
from drone_agent.store.config import StoreConfig
from drone_agent.store.s3io import Retry, is_transient, translate

CFG = StoreConfig(bucket="evidence", name="force", endpoint="http://127.0.0.1:9")


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(
    ("exc", "cls", "text"),
    [
        (_client_error("SignatureDoesNotMatch", 403), InputError, "rejected the credentials"),
        (_client_error("InvalidAccessKeyId", 403), InputError, "rejected the credentials"),
        (_client_error("NoSuchBucket", 404), InputError, "bucket 'evidence' does not exist"),
        (_client_error("AccessDenied", 403), NotPermitted, "refused"),
        (_client_error("InternalError", 500), EnvironmentFault, "failed while"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), EnvironmentFault, "unreachable"),
        (NoCredentialsError(), InputError, "no credentials"),
        (OSError(errno.ENOSPC, "No space left on device"), EnvironmentFault, "disk full"),
    ],
)
def test_translate(exc: Exception, cls: type, text: str) -> None:
    err = translate(exc, CFG, "uploading x")
    assert type(err) is cls and text in err.one_line()
    assert "\n" not in err.one_line() and err.hint


def test_exit_codes_documented() -> None:
    assert (InputError.exit_code, NotPermitted.exit_code, EnvironmentFault.exit_code,
            IntegrityError.exit_code) == (2, 3, 5, 1)


def test_transient_classification() -> None:
    assert is_transient(EndpointConnectionError(endpoint_url="x"))
    assert is_transient(_client_error("SlowDown", 503))
    assert not is_transient(_client_error("AccessDenied", 403))
    assert not is_transient(_client_error("NotImplemented", 501))
    assert not is_transient(ValueError("x"))


def test_retry_retries_transient_then_succeeds() -> None:
    sleeps: list[float] = []
    calls = iter([EndpointConnectionError(endpoint_url="x"), _client_error("SlowDown", 503), "ok"])

    def fn() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert Retry(attempts=3, base_delay_s=0.1, sleep=sleeps.append).call(fn) == "ok"
    assert sleeps == [0.1, 0.2]


def test_retry_gives_up_and_does_not_retry_permanent() -> None:
    sleeps: list[float] = []
    retry = Retry(attempts=3, base_delay_s=0.1, max_delay_s=0.15, sleep=sleeps.append)
    with pytest.raises(EndpointConnectionError):
        retry.call(lambda: (_ for _ in ()).throw(EndpointConnectionError(endpoint_url="x")))
    assert sleeps == [0.1, 0.15]
    sleeps.clear()
    with pytest.raises(ClientError):
        retry.call(lambda: (_ for _ in ()).throw(_client_error("AccessDenied", 403)))
    assert sleeps == []


def test_local_read_error_is_environment_fault() -> None:
    err = translate(PermissionError(13, "Permission denied", "/x"), CFG, "reading /x")
    assert isinstance(err, EnvironmentFault) and "Permission denied while reading /x" in err.one_line()
