"""
Where the token may go, against real loopback servers: redirects are never followed, cleartext
stays on this machine, a base URL is a scheme and host only, every status has its error, and
pooled connections use TCP keep-alive.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vyro.catalogue import INPAINT
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBadRequestError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroServerError,
    VyroUnexpectedResponseError,
)
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.network import KeepAliveAdapter
from tests.conftest import conn_json, make_scene
from tests.loopback import ScriptedServer


@pytest.fixture
def scene() -> tuple[bytes, bytes]:
    return make_scene(size=(32, 32))


@pytest.fixture
def elsewhere() -> Iterator[ScriptedServer]:
    """A server on another loopback address (127.0.0.2): the token must never reach it."""
    with ScriptedServer(host="127.0.0.2") as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_fails_at_once(
    vyro_conn: EmulatorServer, elsewhere: ScriptedServer, scene: tuple[bytes, bytes], status: int
) -> None:
    location = f"{elsewhere.url}{INPAINT.path}"
    vyro_conn.set_faults(script=[{"redirect": status, "location": location}])

    with pytest.raises(VyroUnexpectedResponseError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")

    error = caught.value
    print(f"{status}: {error}")
    assert error.status_code == status
    assert error.location == location
    assert location in str(error)
    assert isinstance(error, AirflowFailException), "Airflow does not retry the task either"
    assert vyro_conn.stats()["requests"] == 1, "not retried by the hook"
    assert elsewhere.seen == [], "the other host received nothing: no token, no image, no prompt"


def test_the_redirect_fault_names_its_status_in_the_emulator_stats(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[{"redirect": 308}])
    with pytest.raises(VyroUnexpectedResponseError, match=r"moved\.invalid"):
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    stats = vyro_conn.stats()
    assert stats["faults"] == {"308": 1}
    assert stats["by_status"] == {"308": 1}


def _this_machine_by_name() -> tuple[str, str]:
    """This machine's host name (not a loopback literal) and the local address it resolves to."""
    name = socket.gethostname()
    return name, socket.gethostbyname(name)


def test_cleartext_off_loopback_is_refused_before_connecting_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes]
) -> None:
    name, address = _this_machine_by_name()
    with ScriptedServer(host=address) as server:
        url = f"http://{name}:{server.url.rsplit(':', 1)[1]}"
        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(url))
        with pytest.raises(VyroInputError, match="use https") as caught:
            VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
        assert caught.value.field == "vyro_conn_id"
        assert "clear text" in str(caught.value)
        assert server.seen == [], "refused before any connection"

        monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(url, allow_insecure_http=True))
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
        assert [seen.target for seen in server.seen] == [INPAINT.path], "the same URL works once allowed"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_cleartext_on_loopback_works(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], host: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(f"http://{host}:{emulator.port}"))
    VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert emulator.stats()["requests"] == 1


@pytest.mark.parametrize("path", ["/v2", "/v1/imagine/api", "/?key=1"])
def test_a_base_url_with_a_path_is_refused_naming_host(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, scene: tuple[bytes, bytes], path: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(emulator.url + path))
    with pytest.raises(VyroInputError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert caught.value.field == "vyro_conn_id"
    assert f"host {emulator.url + path!r}" in str(caught.value)
    assert f"set host to {emulator.url!r}" in str(caught.value)
    assert emulator.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (404, VyroBadRequestError, 404),
        (405, VyroBadRequestError, 405),
        (413, VyroBadRequestError, 413),
        (415, VyroBadRequestError, 415),
        ({"status": 400, "code": 1100}, VyroBadRequestError, 1100),
        ({"status": 400, "code": 1000}, VyroAuthenticationError, 1000),
        ({"status": 400, "code": "1000"}, VyroAuthenticationError, 1000),
        ({"status": 401, "code": "1001"}, VyroAuthenticationError, 1001),
        ({"status": 406, "code": 1002}, VyroAuthenticationError, 1002),
        ({"status": 402, "code": "1101"}, VyroInsufficientCreditsError, 1101),
        (501, VyroUnexpectedResponseError, 501),
        (505, VyroUnexpectedResponseError, 505),
        (418, VyroUnexpectedResponseError, 418),
        (410, VyroUnexpectedResponseError, 410),
    ],
)
def test_each_status_fails_at_once_with_its_error_and_code(
    vyro_conn: EmulatorServer,
    scene: tuple[bytes, bytes],
    fault: object,
    error: type[VyroAPIError],
    code: int,
) -> None:
    vyro_conn.set_faults(script=[fault])
    with pytest.raises(VyroAPIError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert type(caught.value) is error
    assert caught.value.code == code, "the API's numeric code, an int or a numeric string in the body"
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 1, "not retried"


def test_a_wrong_path_says_to_check_the_host(vyro_conn: EmulatorServer) -> None:
    with pytest.raises(VyroBadRequestError, match="is the connection's host the Vyro API") as caught:
        VyroHook().post_image("/v2/image/nowhere", fields={"prompt": "sand"})
    assert caught.value.status_code == 404
    assert isinstance(caught.value, AirflowFailException), "a wrong host is not retried by Airflow either"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_only_the_transient_statuses_are_retried(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes], status: int
) -> None:
    vyro_conn.set_faults(script=[status])
    VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert vyro_conn.stats()["by_status"] == {str(status): 1, "200": 1}


def test_408_every_time_is_a_server_error_task_retries_may_repeat(
    vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]
) -> None:
    vyro_conn.set_faults(script=[408] * 4)
    with pytest.raises(VyroServerError) as caught:
        VyroHook().inpaint(image=scene[0], mask=scene[1], prompt="sand")
    assert not isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 4


def test_pooled_connections_use_tcp_keepalive(vyro_conn: EmulatorServer, scene: tuple[bytes, bytes]) -> None:
    hook = VyroHook()
    hook.inpaint(image=scene[0], mask=scene[1], prompt="sand")
    adapter = hook.get_conn().get_adapter(vyro_conn.url)
    assert isinstance(adapter, KeepAliveAdapter)
    manager = adapter.poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118 (not a dict)
    sockets = [conn.sock for pool in pools for conn in list(pool.pool.queue) if conn and conn.sock]
    assert len(sockets) == 1, "the call's connection went back to the pool"
    sock = sockets[0]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60, "the documented 60 s"
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1, "urllib3's defaults are kept"
    hook.close()


def test_proxied_connections_get_the_same_socket_options() -> None:
    adapter = VyroHook().get_conn().get_adapter("https://api.vyro.ai")
    assert isinstance(adapter, KeepAliveAdapter)
    manager = adapter.proxy_manager_for("http://127.0.0.1:3128")
    options = manager.connection_pool_kw["socket_options"]
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
