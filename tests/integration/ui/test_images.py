"""
The "Vyro images" app on a real api-server (Airflow 3.1+): the JSON entry point, the files, the view.

A scratch AIRFLOW_HOME runs ``tests/dags/vyro_ui_images.py`` with ``airflow dags test`` against
the emulator, then ``airflow api-server`` serves it with SimpleAuthManager (user ``outsider`` may
not read DAG ``vyro_ui_images``: tests/auth_manager.py). Every request goes over HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from airflow_provider_vyro.emulator.server import EmulatorServer
from devtools.airflow_runner import REPO, AirflowSandbox, DagRunResult, airflow_env
from tests.conftest import conn_json

pytestmark = pytest.mark.airflow_versions(">=3.1")

TEST_DAGS = REPO / "tests" / "dags"
MANIFEST_ITEMS = 26
USERS = {"admin": "admin", "outsider": "viewer"}


@dataclass
class Served:
    """The api-server, the runs it shows and a token per user."""

    url: str
    out: Path
    images: DagRunResult
    run_ids: dict[str, str]
    tokens: dict[str, str]

    def get(
        self, path: str, user: str | None = "admin", headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        sent = dict(headers or {})
        if user:
            sent["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.get(self.url + path, headers=sent, timeout=60, **kwargs)

    def images_path(self, task_id: str, dag_id: str = "vyro_ui_images") -> str:
        return f"/vyro/images/{dag_id}/{quote(self.run_ids[dag_id], safe='')}/{task_id}"


def _run_id(sandbox: AirflowSandbox, dag_id: str) -> str:
    import sqlite3

    with sqlite3.connect(sandbox.home / "airflow.db") as db:
        (run_id,) = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchone()
    return str(run_id)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, airflow_template_db: Path, emulator_server: EmulatorServer
) -> Iterator[Served]:
    scratch = tmp_path_factory.mktemp("ui")
    out = scratch / "out"
    sandbox = AirflowSandbox(
        scratch / "home",
        airflow_template_db,
        TEST_DAGS,
        env={"AIRFLOW_CONN_VYRO_DEFAULT": conn_json(emulator_server.url)},
    )
    images = sandbox.dags_test("vyro_ui_images", conf={"out": str(out), "manifest_items": MANIFEST_ITEMS})
    assert images.state == "success", images.describe()
    opened = sandbox.dags_test("vyro_ui_open", conf={"out": str(out)})
    assert opened.state == "success", opened.describe()
    run_ids = {dag_id: _run_id(sandbox, dag_id) for dag_id in ("vyro_ui_images", "vyro_ui_open")}

    port = free_port()
    (scratch / "passwords.json").write_text(json.dumps(USERS))
    env = airflow_env(
        sandbox.home,
        TEST_DAGS,
        {
            "AIRFLOW__CORE__AUTH_MANAGER": "tests.auth_manager.OneClosedDagAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,outsider:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(scratch / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-for-the-ui-tests-0123456789",
            "AIRFLOW__API__SECRET_KEY": "test-secret-key",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONPATH": str(REPO),
        },
    )
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)]
    with api_server(argv, env, scratch / "api-server.log", url):
        tokens = {}
        for user, password in USERS.items():
            login = {"username": user, "password": password}
            answer = httpx.post(f"{url}/auth/token", json=login, timeout=30)
            assert answer.status_code in (200, 201), answer.text
            tokens[user] = answer.json()["access_token"]
        yield Served(url, out, images, run_ids, tokens)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_server(argv: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[None]:
    """Run ``airflow api-server`` in its own process group until healthy; stop the group after."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while _quiet(lambda: httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code) != 200:
            assert process.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(0.5)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _quiet(check: Any) -> Any:
    try:
        return check()
    except httpx.HTTPError:
        return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_without_a_token_every_route_is_401(served: Served) -> None:
    base = served.images_path("batch")
    for path in (base, f"{base}/0/output", f"{base}/0/output?size=thumb", base.replace("/images/", "/view/")):
        assert served.get(path, user=None).status_code == 401, path


def test_json_lists_the_batch_and_each_url_serves_the_stored_bytes(served: Served) -> None:
    answer = served.get(served.images_path("batch"), params={"map_index": "-1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    items = answer.json()["items"]
    recorded = served.images.xcom("batch")
    assert [i["output_path"] for i in items] == [r["output_path"] for r in recorded]
    for item, record in zip(items, recorded, strict=True):
        for name in ("operation", "prompt", "bytes", "sha256", "width", "height"):
            assert item[name] == record[name], name
        assert set(item["images"]) == {"output", "image", "mask"}
        for role, url in item["images"].items():
            served_file = served.get(url)
            assert served_file.status_code == 200, url
            assert served_file.headers["x-content-type-options"] == "nosniff"
            stored = Path(record[f"{role}_path"]).read_bytes()
            assert sha256(served_file.content) == sha256(stored), role
            expected = "image/png" if stored.startswith(b"\x89PNG") else "image/jpeg"
            assert served_file.headers["content-type"] == expected
        assert sha256(served.get(item["images"]["output"]).content) == record["sha256"]


def test_a_thumbnail_is_a_smaller_image(served: Served) -> None:
    (item,) = served.get(served.images_path("single")).json()["items"]
    full = served.get(item["images"]["output"])
    thumb = served.get(item["images"]["output"] + "&size=thumb")
    assert thumb.status_code == 200
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert len(thumb.content) < len(full.content)
    with Image.open(io.BytesIO(thumb.content)) as small, Image.open(io.BytesIO(full.content)) as large:
        assert max(small.size) <= 320 < max(large.size)
        assert small.format in ("JPEG", "PNG")
    assert not list(served.out.rglob("*thumb*"))


def test_a_range_of_a_file_is_served(served: Served) -> None:
    (item,) = served.get(served.images_path("single")).json()["items"]
    full = served.get(item["images"]["output"]).content
    part = served.get(item["images"]["output"], headers={"Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == full[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(full)}"


def test_a_manifest_is_paged(served: Served) -> None:
    summary = served.images.xcom("manifest")
    lines = [json.loads(line) for line in Path(summary["manifest_path"]).read_text().splitlines()]
    answer = served.get(served.images_path("manifest"), params={"offset": "20", "limit": "10"}).json()
    assert answer["total"] == MANIFEST_ITEMS
    assert answer["manifest_path"] == summary["manifest_path"]
    assert [i["index"] for i in answer["items"]] == list(range(20, MANIFEST_ITEMS))
    assert [i["sha256"] for i in answer["items"]] == [line["sha256"] for line in lines[20:]]
    last = answer["items"][-1]
    assert sha256(served.get(last["images"]["output"]).content) == lines[-1]["sha256"]
    page_two = served.get(served.images_path("manifest").replace("/images/", "/view/") + "?page=2")
    assert page_two.status_code == 200
    assert page_two.text.count('class="card ') == MANIFEST_ITEMS - 24
    assert "page 2 of 2" in page_two.text


@pytest.mark.parametrize(
    "suffix",
    [
        "/3/output",  # no item 3 in a batch of three
        "/0/secret",  # no such role
        "/0/manifest",
        "/-1/output",
        "/0/..%2F..%2Fetc%2Fpasswd",
        "/..%2F0/output",
        "/0/output?map_index=..%2F..",
        "/0/output?map_index=0",  # the task is not mapped
        "/0/output?size=..%2F..%2Fx",
    ],
)
def test_anything_not_recorded_is_404(served: Served, suffix: str) -> None:
    answer = served.get(served.images_path("batch") + suffix)
    assert answer.status_code == 404, answer.text
    assert "passwd" not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/vyro/images/vyro_ui_images/no_such_run/batch",
        "/vyro/images/no_such_dag/no_such_run/batch",
        "/vyro/images/vyro_ui_images/{run}/no_such_task",
        "/vyro/images/vyro_ui_images/{run}/batch?map_index=3",
        "/vyro/images/vyro_ui_images/{run}/..%2F..%2Fetc%2Fpasswd",
        "/vyro/images/vyro_ui_images/..%2F..%2Fetc/batch",
        "/vyro/view/vyro_ui_images/{run}/no_such_task",
        "/vyro/view/vyro_ui_images/{run}/batch?page=0",
        "/vyro/view/vyro_ui_images/{run}/batch?page=..%2F",
    ],
)
def test_a_run_task_or_map_index_that_does_not_exist_is_404(served: Served, path: str) -> None:
    answer = served.get(path.replace("{run}", quote(served.run_ids["vyro_ui_images"], safe="")))
    assert answer.status_code == 404, answer.text


def test_a_user_who_may_not_read_the_dag_gets_403(served: Served) -> None:
    base = served.images_path("batch")
    for path in (base, f"{base}/0/output", base.replace("/images/", "/view/")):
        assert served.get(path, user="outsider").status_code == 403, path
    opened = served.get(served.images_path("single", "vyro_ui_open"), user="outsider")
    assert opened.status_code == 200
    assert served.get(opened.json()["items"][0]["images"]["output"], user="outsider").status_code == 200


def test_the_ui_leaves_the_map_index_placeholder_for_a_task_that_is_not_mapped(served: Served) -> None:
    view = served.images_path("batch").replace("/images/", "/view/")
    assert served.get(view + "?map_index={MAP_INDEX}").status_code == 200
    assert served.get(view + "?map_index={MAP_INDEX}x").status_code == 404


def test_the_ui_session_cookie_is_accepted(served: Served) -> None:
    answer = httpx.get(
        served.url + served.images_path("single"), cookies={"_token": served.tokens["admin"]}, timeout=30
    )
    assert answer.status_code == 200


def test_the_view_shows_a_card_per_item(served: Served) -> None:
    page = served.get(served.images_path("batch").replace("/images/", "/view/"))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.text.count('class="card ') == 3
    for record in served.images.xcom("batch"):
        assert record["sha256"] in page.text
        assert record["output_path"] in page.text
    assert page.text.count('class="thumb"') == 9
    assert served.get("/vyro/static/view.js").status_code == 200


def test_a_deleted_or_replaced_file_gets_a_card_that_says_so(served: Served) -> None:
    (item,) = served.get(served.images_path("single", "vyro_ui_open")).json()["items"]
    output = Path(item["output_path"])
    kept = output.read_bytes()
    try:
        output.write_text("not an image")
        view = served.get(served.images_path("single", "vyro_ui_open").replace("/images/", "/view/"))
        assert view.status_code == 200
        assert "is not an image" in view.text
        assert served.get(item["images"]["output"]).status_code == 404
        assert served.get(item["images"]["output"] + "&size=thumb").status_code == 404
        output.unlink()
        view = served.get(served.images_path("single", "vyro_ui_open").replace("/images/", "/view/"))
        assert view.status_code == 200
        assert "no longer there" in view.text
        assert served.get(item["images"]["output"]).status_code == 404
    finally:
        output.write_bytes(kept)


def test_a_video_is_served_as_mp4_and_gets_a_player_with_a_poster(served: Served) -> None:
    (item,) = served.get(served.images_path("video", "vyro_ui_open")).json()["items"]
    assert item["format"] == "MP4"
    assert set(item["images"]) == {"output", "image", "thumbnail"}
    video = served.get(item["images"]["output"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert sha256(video.content) == item["sha256"] == sha256(Path(item["output_path"]).read_bytes())
    part = served.get(item["images"]["output"], headers={"Range": "bytes=0-15"})
    assert (part.status_code, part.content) == (206, video.content[:16])
    assert served.get(item["images"]["output"] + "&size=thumb").status_code == 404
    assert served.get(item["images"]["thumbnail"] + "&size=thumb").status_code == 200
    page = served.get(served.images_path("video", "vyro_ui_open").replace("/images/", "/view/")).text
    (player,) = re.findall(r"<video [^>]*>", page)
    assert 'src="/vyro/images/vyro_ui_open/' in player
    assert "/0/output?map_index=-1" in player
    (poster,) = re.findall(r'poster="([^"]*)"', player)
    assert "size=thumb" in poster


def test_the_plugin_and_its_view_are_registered(served: Served) -> None:
    plugins = served.get("/api/v2/plugins").json()["plugins"]
    (vyro,) = [p for p in plugins if p["name"] == "vyro"]
    (view,) = vyro["external_views"]
    assert view["destination"] == "task_instance"
    assert view["href"].startswith("/vyro/view/{DAG_ID}/{RUN_ID}/{TASK_ID}")
    assert vyro["fastapi_apps"][0]["url_prefix"] == "/vyro"
    assert served.get("/api/v2/importErrors").json()["total_entries"] == 0
