"""
Corporate networks, against real loopback servers: an HTTPS server whose certificate a CA made in
the test signed, and a forward proxy (plain relay and CONNECT tunnel).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.catalogue import INPAINT
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import VyroConnectionError, VyroInputError, VyroTLSError
from airflow_provider_vyro.hooks.vyro import VyroHook
from tests.conftest import TOKEN, conn_json, make_scene
from tests.loopback import Certificates, ForwardProxy, ScriptedServer, make_certificates


@pytest.fixture
def scene() -> tuple[bytes, bytes]:
    return make_scene(size=(32, 32))


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "pki")


@pytest.fixture
def tls_server(certs: Certificates) -> Iterator[ScriptedServer]:
    with ScriptedServer(tls=(certs.cert, certs.key)) as server:
        yield server


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Start from an environment without proxy variables (the test session sets NO_PROXY=*)."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_an_unknown_certificate_authority_fails_at_once_naming_tls(
    tls_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(tls_server.url, max_retries=3))
    with pytest.raises(VyroTLSError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    error = caught.value
    print(f"default verify: {type(error).__name__}: {error}")
    assert isinstance(error, VyroConnectionError)
    assert isinstance(error, AirflowFailException), "Airflow does not retry the task"
    assert "TLS certificate verification failed" in str(error)
    assert "certificate verify failed" in str(error)
    assert tls_server.connections == 1, "one connection: the hook did not retry"
    assert tls_server.seen == [], "no request, so no token, went over the unverified connection"


def test_a_tls_failure_says_which_extra_of_which_connection_to_set(
    tls_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_CORP", conn_json(tls_server.url))
    with pytest.raises(VyroTLSError) as caught:
        VyroHook("vyro_corp").inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert "set the extra 'verify' of connection 'vyro_corp' to the CA bundle" in str(caught.value)


def test_verify_set_to_the_ca_bundle_succeeds(
    tls_server: ScriptedServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    scene: tuple[bytes, bytes],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(tls_server.url, verify=str(certs.ca)))
    png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    print(f"verify={certs.ca.name}: {len(png)} B PNG; server saw {[s.target for s in tls_server.seen]}")
    assert png.startswith(b"\x89PNG")
    assert [(seen.method, seen.target) for seen in tls_server.seen] == [("POST", INPAINT.path)]
    assert tls_server.seen[0].headers["bearer"] == TOKEN, "the token went over the verified connection"
    assert tls_server.handshake_failures == 0


def test_the_connection_verify_wins_over_requests_ca_bundle(
    tls_server: ScriptedServer,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    scene: tuple[bytes, bytes],
    tmp_path: Path,
) -> None:
    other = make_certificates(tmp_path / "other-pki")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca))
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(tls_server.url, verify=str(certs.ca)))
    VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert len(tls_server.seen) == 1


@pytest.mark.parametrize(("verify", "problem"), [("/no/such/ca.pem", "does not exist"), (12, "must be true")])
def test_a_bad_verify_extra_is_an_input_error(
    tls_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    scene: tuple[bytes, bytes],
    verify: object,
    problem: str,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(tls_server.url, verify=verify))
    with pytest.raises(VyroInputError, match=problem) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.field == "vyro_conn_id"
    assert tls_server.seen == []
    assert tls_server.connections == 0, "refused before connecting"


def test_proxies_extra_sends_the_call_through_the_proxy(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, proxies={"http": proxy.url}))
        png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    print(f"proxies extra: proxy saw {proxy.seen}")
    assert png.startswith(b"\x89PNG")
    assert proxy.seen == [f"POST {vyro_conn.url}{INPAINT.path}"]
    assert vyro_conn.stats()["requests"] == 1, "the emulator answered through the proxy"


def test_https_proxy_variable_tunnels_and_no_proxy_bypasses(
    tls_server: ScriptedServer,
    certs: Certificates,
    no_proxy_variables: pytest.MonkeyPatch,
    scene: tuple[bytes, bytes],
) -> None:
    monkeypatch = no_proxy_variables
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(tls_server.url, verify=str(certs.ca)))
    address = tls_server.url.removeprefix("https://")
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
        print(f"HTTPS_PROXY: proxy saw {proxy.seen}")
        assert proxy.seen == [f"CONNECT {address}"], "the token went through the tunnel, encrypted"
        assert len(tls_server.seen) == 1

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
        print(f"HTTPS_PROXY with NO_PROXY=127.0.0.1: proxy saw {proxy.seen}")
        assert proxy.seen == [f"CONNECT {address}"], "NO_PROXY: straight to the server"
        assert len(tls_server.seen) == 2


def test_a_cleartext_base_url_takes_no_proxy_from_the_environment(
    vyro_conn: EmulatorServer, no_proxy_variables: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    monkeypatch = no_proxy_variables
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url))
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        png = VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    print(f"HTTP_PROXY with an http:// loopback base URL: proxy saw {proxy.seen}")
    assert png.startswith(b"\x89PNG")
    assert proxy.seen == [], "the token in clear text does not go to a proxy named only by the environment"
    assert vyro_conn.stats()["requests"] == 1


def test_an_unreachable_proxy_is_a_connection_error(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    with ForwardProxy() as proxy:
        dead = proxy.url
    monkeypatch.setenv(
        "AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, proxies={"http": dead}, max_retries=1)
    )
    with pytest.raises(VyroConnectionError, match="through the proxy"):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert vyro_conn.stats()["requests"] == 0


def test_a_netrc_entry_for_the_api_host_does_not_replace_the_token(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``requests`` would put a ``~/.netrc`` login in ``Authorization``; the hook never reads it."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert vyro_conn.url.startswith("http://127.0.0.1:")
    image = VyroHook().text_to_image("a lighthouse")
    assert len(image) > 0, "the emulator took the v2 Bearer token (a Basic login would be a 401)"
    assert vyro_conn.stats()["requests"] == 1
