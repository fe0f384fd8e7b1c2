"""
The "Vyro images" view and the documentation site in a real browser (Debian's Chromium, Selenium).

``python -m e2e.run --browser`` (``make e2e-browser``) runs these after the cases:

* :func:`check_view`: log in through the UI's login form (SimpleAuthManager), open the view of a
  finished batch task inside the Airflow UI (the task instance's "Vyro images" tab), wait until
  every thumbnail has loaded (``naturalWidth > 0``), click one and see the full image; a
  screenshot of the page is saved;
* :func:`check_docs`: open the built documentation's quick start at 1280 px and check that no
  code block scrolls sideways (``scrollWidth <= clientWidth`` for every ``pre``).
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from e2e.checks import CaseReport
    from e2e.services import Context

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
WINDOW = (1280, 1000)
WAIT = 60.0


class BrowserCheckFailed(AssertionError):
    """What the browser saw is not what was expected; the message says what."""


@contextmanager
def chromium() -> Iterator[Any]:
    """Start headless Chromium through its driver, with a fresh profile; quit it after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a browser or a driver
    with tempfile.TemporaryDirectory(prefix="vyro-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Call ``check`` until it returns something true; return it, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # the page is still changing: stale elements, missing frames
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.25)
    raise BrowserCheckFailed(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def log_in(driver: Any, base_url: str, username: str, password: str) -> None:
    """Log in through SimpleAuthManager's login form."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/auth/login")
    field = wait_for("the login form", lambda: driver.find_element(By.NAME, "username"))
    field.send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for("the session cookie", lambda: driver.get_cookie("_token"))


def check_view(
    driver: Any,
    base_url: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    items: int,
    screenshot: Path,
    link: str | None = None,
) -> str:
    """
    Open a task instance's "Vyro images" tab in the Airflow UI and check what it shows.

    :param driver: a logged-in browser.
    :param base_url: the api-server's root URL.
    :param dag_id: the DAG of a finished batch task.
    :param run_id: its run.
    :param task_id: the task.
    :param items: how many cards the view must show.
    :param screenshot: where to save a screenshot of the page.
    :param link: the task's "Vyro images" extra link, opened instead of the tab's path if given.
    :return: what was checked.
    """
    path = "/".join(quote(p, safe="") for p in (dag_id, "runs", run_id, "tasks", task_id))
    driver.get(link or f"{base_url}/dags/{path}/plugin/vyro-images")
    try:
        return _check_view(driver, dag_id, task_id, items, screenshot)
    except BrowserCheckFailed:
        driver.switch_to.default_content()
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot.with_name("failure.png")))
        frames = driver.find_elements("css selector", "iframe")
        sources = [driver.page_source]
        for frame in frames:
            src = frame.get_attribute("src")
            driver.switch_to.frame(frame)
            sources.append(f"<!-- iframe {src} -->\n" + driver.page_source)
            driver.switch_to.default_content()
        screenshot.with_name("failure.html").write_text("\n".join(sources))
        raise


def _check_view(driver: Any, dag_id: str, task_id: str, items: int, screenshot: Path) -> str:
    from selenium.webdriver.common.by import By

    frame = wait_for(
        "the view's frame", lambda: driver.find_element(By.CSS_SELECTOR, "iframe[src*='/vyro/view/']")
    )
    driver.switch_to.frame(frame)
    cards = wait_for(
        f"{items} cards",
        lambda: (
            len(driver.find_elements(By.CSS_SELECTOR, "article.card")) == items
            and driver.find_elements(By.CSS_SELECTOR, "article.card")
        ),
    )
    thumbs = driver.find_elements(By.CSS_SELECTOR, "img.thumb")
    if not thumbs:
        raise BrowserCheckFailed("the view shows no thumbnail")
    for thumb in thumbs:
        driver.execute_script("arguments[0].scrollIntoView()", thumb)
    wait_for(
        "every thumbnail loaded",
        lambda: all(
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", t)
            for t in thumbs
        ),
    )
    widths = [int(driver.execute_script("return arguments[0].naturalWidth", t)) for t in thumbs]
    driver.execute_script("window.scrollTo(0, 0)")
    driver.switch_to.default_content()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(screenshot))
    driver.switch_to.frame(frame)
    first = cards[0].find_element(By.CSS_SELECTOR, "figure.output a.open")
    first.click()
    full = wait_for(
        "the full image after a click",
        lambda: driver.execute_script(
            "var i = document.querySelector('#lightbox:not([hidden]) img');"
            "return i && i.complete && i.naturalWidth",
        ),
    )
    thumb_width = int(
        driver.execute_script(
            "return arguments[0].naturalWidth", cards[0].find_element(By.CSS_SELECTOR, "figure.output img")
        )
    )
    driver.switch_to.default_content()
    return (
        f"browser: the UI's 'Vyro images' tab of {dag_id}.{task_id} shows {len(cards)} cards, "
        f"{len(thumbs)} thumbnails loaded (natural widths {min(widths)}-{max(widths)} px); a click shows "
        f"the full image ({full} px wide, thumbnail {thumb_width} px); screenshot {screenshot}"
    )


def check_docs(driver: Any, site: Path) -> str:
    """
    Open the documentation's quick start at 1280 px and check that no code block scrolls sideways.

    :param driver: a browser.
    :param site: the built site (``make docs`` writes ``.scratch/docs``).
    :return: what was checked.
    """
    index = site / "index.html"
    if not index.exists():
        raise BrowserCheckFailed(f"no documentation site at {site}: run `make docs` first")
    driver.set_window_size(*WINDOW)
    driver.get(index.resolve().as_uri())
    blocks = driver.execute_script(
        "return Array.from(document.querySelectorAll('pre')).map(function (p) {"
        "  return [p.scrollWidth, p.clientWidth, p.textContent.slice(0, 60)]; });"
    )
    if not blocks:
        raise BrowserCheckFailed("the quick start shows no code block")
    wide = [b for b in blocks if b[0] > b[1]]
    if wide:
        shown = "; ".join(f"{w}>{c} px: {text!r}" for w, c, text in wide)
        raise BrowserCheckFailed(f"code blocks of the quick start scroll sideways at 1280 px: {shown}")
    width = driver.execute_script("return window.innerWidth")
    return f"browser: none of the {len(blocks)} code blocks of the quick start scrolls sideways at {width} px"


def browser_checks(ctx: Context, reports: Sequence[CaseReport], password: str) -> list[tuple[bool, str]]:
    """
    Check the view of the first passed batch case, and the built docs, in Chromium.

    :param ctx: the running stack.
    :param reports: the cases run so far.
    :param password: the e2e user's password (to log in through the UI's form).
    :return: one ``(passed, what)`` per check.
    """
    from e2e.services import REPO, USERNAME, say

    batch = next(
        ((r, res) for r in reports if r.passed and r.run_id for res in r.case.results if res.kind == "list"),
        None,
    )
    found: list[tuple[bool, str]] = []
    with chromium() as driver:
        try:
            if batch is None:
                raise BrowserCheckFailed("no batch case passed: run one (e.g. --case batch)")
            log_in(driver, ctx.client.base_url, USERNAME, password)
            report, results = batch
            link = extra_link(ctx, report.case.dag_id, report.run_id, results.task_id)
            shot = REPO / ".scratch" / "e2e-browser" / "vyro-images-view.png"
            args = (report.case.dag_id, report.run_id, results.task_id, results.count, shot, link)
            seen = check_view(driver, ctx.client.base_url, *args)
            found.append((True, f"{seen}; opened from the task's extra link {link}"))
        except BrowserCheckFailed as exc:
            found.append((False, f"browser: {exc}"))
        try:
            found.append((True, check_docs(driver, REPO / ".scratch" / "docs")))
        except BrowserCheckFailed as exc:
            found.append((False, f"browser: {exc}"))
    for ok, line in found:
        say(("" if ok else "PROBLEM: ") + line)
    return found


def extra_link(ctx: Context, dag_id: str, run_id: str, task_id: str) -> str:
    """
    Read a task instance's "Vyro images" extra link through the REST API.

    :raises BrowserCheckFailed: the task has no such link.
    """
    path = "/".join(quote(p, safe="") for p in (dag_id, "dagRuns", run_id, "taskInstances", task_id))
    links = ctx.client.request("GET", f"/dags/{path}/links").get("extra_links", {})
    link = links.get("Vyro images")
    if not link:
        raise BrowserCheckFailed(f"the task has no 'Vyro images' extra link: {links}")
    return str(link)
