"""The base URL policy, the transport extras and the status table, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.exceptions import (
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroConnectionError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroRateLimitError,
    VyroServerError,
    VyroTLSError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.failures import is_retryable
from airflow_provider_vyro.network import Transport, base_url, bool_extra, is_loopback
from airflow_provider_vyro.statuses import error_for, parse_error_body


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.vyro.ai"),
        ("", None, "https://api.vyro.ai"),
        ("api.vyro.ai", None, "https://api.vyro.ai"),
        ("https://api.vyro.ai/", None, "https://api.vyro.ai"),
        ("HTTPS://API.vyro.ai", None, "https://api.vyro.ai"),
        ("https://api.vyro.ai", 8443, "https://api.vyro.ai:8443"),
        ("https://api.vyro.ai:8443", 8443, "https://api.vyro.ai:8443"),
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("http://127.9.9.9:8765", None, "http://127.9.9.9:8765"),
        ("http://localhost:8765", None, "http://localhost:8765"),
        ("http://[::1]:8765", None, "http://[::1]:8765"),
    ],
)
def test_base_url_accepts(host: str | None, port: int | None, expected: str) -> None:
    assert base_url(host, port, allow_insecure_http=False) == expected


@pytest.mark.parametrize(
    ("host", "port", "problem"),
    [
        ("https://api.vyro.ai/v2", None, "without the path '/v2'"),
        ("https://api.vyro.ai/v1/imagine/api/edits/inpaint", None, "set host to 'https://api.vyro.ai'"),
        ("https://api.vyro.ai?x=1", None, "without the path '?x=1'"),
        ("https://user:secret@api.vyro.ai", None, "must not carry a user name or password"),
        ("ftp://api.vyro.ai", None, "must start with https://"),
        ("https://", None, "names no host"),
        ("https://api.vyro.ai:notaport", None, "is not a URL"),
        ("https://api.vyro.ai:443", 8443, "port 443, the port field 8443"),
        ("http://api.vyro.ai", None, "clear text"),
        ("http://10.0.0.8:8765", None, "use https ('https://10.0.0.8:8765')"),
        ("http://localhost.example.com", None, "clear text"),
    ],
)
def test_base_url_refuses(host: str, port: int | None, problem: str) -> None:
    with pytest.raises(VyroInputError, match="host") as caught:
        base_url(host, port, allow_insecure_http=False, conn_id="vyro_default")
    assert caught.value.field == "vyro_conn_id"
    assert problem in str(caught.value)
    assert "secret" not in str(caught.value)


def test_allow_insecure_http_lets_cleartext_leave_the_machine() -> None:
    assert base_url("http://10.0.0.8:8765", None, allow_insecure_http=True) == "http://10.0.0.8:8765"


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.7", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("api.vyro.ai", False),
    ],
)
def test_is_loopback(name: str, loopback: bool) -> None:
    assert is_loopback(name) is loopback


@pytest.mark.parametrize(
    ("raw", "value"), [(True, True), ("true", True), ("Yes", True), (1, True), ("false", False), (0, False)]
)
def test_bool_extra(raw: object, value: bool) -> None:
    assert bool_extra({"allow_insecure_http": raw}, "allow_insecure_http", False) is value
    assert bool_extra({"extra__vyro__allow_insecure_http": raw}, "allow_insecure_http", False) is value


def test_bool_extra_refuses_other_values() -> None:
    with pytest.raises(VyroInputError, match="must be true or false"):
        bool_extra({"allow_insecure_http": "sometimes"}, "allow_insecure_http", False)


def test_transport_extras(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "client.pem").write_text("x")
    (tmp_path / "client.key").write_text("x")
    assert Transport.from_extra({}) == Transport(True, None, {})
    assert Transport.from_extra({"verify": "false"}).verify is False
    assert Transport.from_extra({"verify": str(tmp_path / "ca.pem")}).verify == str(tmp_path / "ca.pem")
    assert Transport.from_extra({"cert": str(tmp_path / "client.pem")}).cert == str(tmp_path / "client.pem")
    pair = [str(tmp_path / "client.pem"), str(tmp_path / "client.key")]
    assert Transport.from_extra({"cert": pair}).cert == tuple(pair)
    assert Transport.from_extra({"cert": str(pair).replace("'", '"')}).cert == tuple(pair)
    proxies = {"https": "http://proxy:3128"}
    assert Transport.from_extra({"proxies": proxies}).proxies == proxies
    assert Transport.from_extra({"proxies": '{"https": "http://proxy:3128"}'}).proxies == proxies


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"verify": "/no/such/ca.pem"}, "does not exist"),
        ({"cert": "/no/such/client.pem"}, "is not a file"),
        ({"cert": ["a"]}, "a file path or a [cert, key] pair"),
        ({"proxies": "http://proxy:3128"}, "must be an object"),
        ({"proxies": {"https": 3128}}, "must map schemes to proxy URLs"),
    ],
)
def test_transport_extras_refused(extra: dict[str, object], problem: str) -> None:
    with pytest.raises(VyroInputError) as caught:
        Transport.from_extra(extra)
    assert problem in str(caught.value)
    assert caught.value.field == "vyro_conn_id"


@pytest.mark.parametrize(
    ("status", "code", "error", "retried"),
    [
        (301, None, VyroUnexpectedResponseError, False),
        (308, None, VyroUnexpectedResponseError, False),
        (400, None, VyroBadRequestError, False),
        (400, 1100, VyroBadRequestError, False),
        (400, 1000, VyroAuthenticationError, False),
        (401, 1001, VyroAuthenticationError, False),
        (403, None, VyroAuthenticationError, False),
        (406, 1002, VyroAuthenticationError, False),
        (402, 1101, VyroInsufficientCreditsError, False),
        (424, None, VyroInsufficientCreditsError, False),
        (404, None, VyroBadRequestError, False),
        (405, None, VyroBadRequestError, False),
        (413, None, VyroBadRequestError, False),
        (415, None, VyroBadRequestError, False),
        (422, None, VyroBadRequestError, False),
        (408, None, VyroServerError, True),
        (429, 1202, VyroRateLimitError, True),
        (500, None, VyroServerError, True),
        (502, None, VyroServerError, True),
        (503, 1200, VyroServerError, True),
        (504, None, VyroServerError, True),
        (501, None, VyroUnexpectedResponseError, False),
        (505, None, VyroUnexpectedResponseError, False),
        (201, None, VyroUnexpectedResponseError, False),
        (418, None, VyroUnexpectedResponseError, False),
        (599, None, VyroUnexpectedResponseError, False),
    ],
)
def test_status_table(status: int, code: int | None, error: type, retried: bool) -> None:
    raised = error_for(status, "message", code=code, location="https://elsewhere/")
    assert type(raised) is error
    assert raised.code == code
    assert is_retryable(raised) is retried
    assert isinstance(raised, AirflowFailException) is not retried


def test_a_tls_failure_is_a_connection_error_that_is_not_retried() -> None:
    error = VyroTLSError("certificate verify failed")
    assert isinstance(error, VyroConnectionError)
    assert not is_retryable(error)
    assert is_retryable(VyroConnectionError("refused"))


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            '{"status": "error", "code": 1001, "error": "x", "message": "Token invalid"}',
            "Token invalid",
            1001,
        ),
        ('{"code": "1101", "message": "Not enough tokens"}', "Not enough tokens", 1101),
        ('{"code": " 1000 ", "detail": "missing"}', "missing", 1000),
        ('{"code": true, "message": "m"}', "m", None),
        ('{"code": "E12", "message": "m"}', "m", "E12"),
        ('{"code": 1.5, "message": "m"}', "m", None),
        ('{"detail": [{"loc": "prompt"}]}', '[{"loc": "prompt"}]', None),
        ("[1, 2]", None, None),
        ("<html>", None, None),
    ],
)
def test_parse_error_body(body: str, message: str | None, code: int | str | None) -> None:
    assert parse_error_body(body) == (message, code)
