"""
The "Vyro images" page: one card per item, server-rendered, with a small script for the full image.

Each file of the page is probed first (a few bytes read through the task's storage connection),
so a file deleted since, or one that is not an image, gets a card that says so.
"""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_provider_vyro.ui import files, records
from airflow_provider_vyro.ui.urls import file_url, view_url

if TYPE_CHECKING:
    from collections.abc import Mapping

PROBE_THREADS = 8
"""Files of a page probed at once."""

_FACTS = (("operation", "operation"), ("format", "format"), ("bytes", "bytes"), ("sha256", "sha256"))


def render(prefix: str, key: records.TaskKey, page: records.Page, number: int, page_size: int) -> str:
    """
    Render one page of the view.

    :param prefix: where the app is mounted, e.g. ``/vyro``.
    :param key: the task instance.
    :param page: the items of this page.
    :param number: the page's number (from 1).
    :param page_size: items per page.
    """
    wanted = {(i, role): path for i, item in page.items for role, path in records.files_of(item).items()}
    with ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="vyro-view") as pool:
        found = pool.map(lambda p: files.probe(p, page.storage_conn_id), wanted.values())
        probed = dict(zip(wanted, found, strict=True))
    cards = []
    for index, item in page.items:
        media = {
            role: (probed[(index, role)], file_url(prefix, key, index, role))
            for role in records.files_of(item)
        }
        thumbs = {role: file_url(prefix, key, index, role, thumb=True) for role in media}
        cards.append(_card(index, item, media, thumbs))
    title = f"{key.task_id}" + (f" [{key.map_index}]" if key.map_index >= 0 else "")
    pages = max(1, -(-page.total // page_size))
    pager = _pager(
        page,
        number,
        pages,
        view_url(prefix, key, number - 1) if number > 1 else None,
        view_url(prefix, key, number + 1) if number < pages else None,
    )
    notice = f'<p class="problem">{_e(page.problem)}</p>' if page.problem else ""
    empty = "" if cards or page.problem else '<p class="empty">No item on this page.</p>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vyro images: {_e(key.dag_id)} / {_e(title)}</title>
<link rel="stylesheet" href="{_e(prefix)}/static/view.css">
<script src="{_e(prefix)}/static/view.js" defer></script>
</head>
<body>
<header>
<h1>Vyro images <span class="where">{_e(key.dag_id)} · {_e(key.run_id)} · {_e(title)}</span></h1>
{pager}
</header>
{notice}{empty}
<main class="cards">
{"".join(cards)}
</main>
<footer>{pager}</footer>
<div id="lightbox" hidden><button type="button" class="close" aria-label="Close">×</button><img alt=""></div>
</body>
</html>
"""


def _card(
    index: int,
    item: Mapping[str, Any],
    media: Mapping[str, tuple[tuple[str | None, str | None], str]],
    thumbs: Mapping[str, str],
) -> str:
    status = str(item.get("status", "written"))
    poster = next(
        (thumbs[r] for r, ((fmt, _), _) in media.items() if r != "output" and fmt not in (None, "MP4")), None
    )
    figures = [
        _figure(role, fmt, problem, url, thumbs[role], poster)
        for role, ((fmt, problem), url) in media.items()
    ]
    facts = [f"<dt>item</dt><dd>{index}</dd>"]
    if status != "written":
        facts.append(f"<dt>status</dt><dd>{_e(status)}</dd>")
    for label, name in _FACTS:
        value = item.get(name)
        if value is None:
            continue
        shown = f'<code title="{_e(value)}">{_e(str(value)[:16])}…</code>' if name == "sha256" else _e(value)
        facts.append(f"<dt>{label}</dt><dd>{shown}</dd>")
    if item.get("width") and item.get("height"):
        facts.append(f"<dt>size</dt><dd>{_e(item['width'])} × {_e(item['height'])}</dd>")
    if item.get("prompt"):
        facts.append(f'<dt>prompt</dt><dd class="prompt">{_e(item["prompt"])}</dd>')
    if item.get("output_path"):
        facts.append(f'<dt>output</dt><dd class="path">{_e(item["output_path"])}</dd>')
    if item.get("error"):
        facts.append(f'<dt>error</dt><dd class="problem">{_e(item["error"])}</dd>')
    return (
        f'<article class="card {_e(status)}" data-index="{index}">'
        f'<div class="media">{"".join(figures)}</div><dl>{"".join(facts)}</dl></article>\n'
    )


def _figure(role: str, fmt: str | None, problem: str | None, url: str, thumb: str, poster: str | None) -> str:
    caption = f"<figcaption>{_e(role)}</figcaption>"
    if problem is not None:
        body = f'<div class="missing" role="img" aria-label="{_e(role)}: {_e(problem)}">{_e(problem)}</div>'
    elif fmt == "MP4":
        poster_attr = f' poster="{_e(poster)}"' if poster else ""
        body = f'<video controls preload="metadata" src="{_e(url)}"{poster_attr}></video>'
    else:
        body = (
            f'<a class="open" href="{_e(url)}" target="_blank" rel="noopener">'
            f'<img class="thumb" src="{_e(thumb)}" alt="{_e(role)}" loading="lazy"></a>'
        )
    return f'<figure class="file {_e(role)}">{body}{caption}</figure>'


def _pager(page: records.Page, number: int, pages: int, previous: str | None, following: str | None) -> str:
    if page.total == 0:
        return ""
    first = page.offset + 1
    last = page.offset + len(page.items)
    parts = [f'<span class="count">items {first}–{last} of {page.total}</span>']
    if pages > 1:
        parts.append(f'<span class="page">page {number} of {pages}</span>')
        if previous:
            parts.append(f'<a class="previous" href="{_e(previous)}">← previous</a>')
        if following:
            parts.append(f'<a class="next" href="{_e(following)}">next →</a>')
    return f'<nav class="pager">{" ".join(parts)}</nav>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
