"""The token out of anything a server sends back: every form it may take, and no prefix left by a cut."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_vyro.hooks.redaction import MASK, Redactor

TOKEN = 'Q7+x/Zk=9f3e"c1a7\\b2d4=e6f8w=='
"""A token with every character that URL encoding or JSON escaping writes differently."""


def _lowercase_percent(text: str) -> str:
    return "".join(f"%{ord(char):02x}" for char in text)


FORMS = {
    "as sent": TOKEN,
    "quote": quote(TOKEN),
    "quote, nothing safe": quote(TOKEN, safe=""),
    "quote_plus": quote_plus(TOKEN),
    "lowercase hex": _lowercase_percent(TOKEN),
    "encoded twice": quote(quote(TOKEN, safe=""), safe=""),
    "JSON string": json.dumps(TOKEN)[1:-1],
    "JSON, every character escaped": "".join(f"\\u{ord(char):04x}" for char in TOKEN),
    "JSON, slashes escaped": json.dumps(TOKEN)[1:-1].replace("/", "\\/"),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_of_the_token_is_redacted(form: str) -> None:
    redactor = Redactor(TOKEN)
    text = f"before {FORMS[form]} after"
    assert redactor.carries_token(text)
    assert redactor.redact(text) == f"before {MASK} after"


def test_a_cut_leaves_no_prefix_of_a_token_that_straddles_it() -> None:
    redactor = Redactor(TOKEN)
    text = "m" * 95 + TOKEN + " tail"
    assert redactor.cut(text, 100) == "m" * 95 + MASK + " t"
    assert redactor.cut(text, 100, mark="…") == "m" * 95 + MASK + " …"
    assert redactor.cut("short", 100) == "short"


def test_a_text_read_in_part_loses_the_tail_where_a_token_may_have_begun() -> None:
    redactor = Redactor(TOKEN)
    start = "x" * 400 + quote(TOKEN, safe="")[:20]
    kept = redactor.without_partial_tail(start)
    assert kept == "x" * len(kept)
    assert len(kept) >= 400 - 6 * len(TOKEN)


def test_an_error_chaining_the_token_is_not_chained() -> None:
    redactor = Redactor(TOKEN)
    inner = ValueError(f"header {quote(TOKEN)}")
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert redactor.scrubbed(outer) is None
    clean = RuntimeError("nothing secret")
    assert redactor.scrubbed(clean) is clean
