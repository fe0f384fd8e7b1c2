r"""
Keeping the API token out of what a server sends back: messages, headers, exception chains.

A server may echo the token it received anywhere: a field of an error body (``code``, ``error``,
``message``), a ``Location`` or ``Content-Type`` header, a broken status line. Whatever the hook
shows of an answer goes through a :class:`Redactor` first, which replaces the token with
``***`` in every form it may take there: as sent, percent-encoded (upper- or lowercase hex,
``/`` kept or encoded, encoded twice) and JSON-escaped (``\/``, ``\u002b``). Texts are
redacted whole and cut only afterwards (:meth:`Redactor.cut`), so a cut never leaves a prefix of
the token behind; a text the hook read only in part (a long error body) loses its tail, where a
token may have begun.
"""

from __future__ import annotations

import re

from airflow_provider_vyro.failures import causes

MASK = "***"
"""What the token is replaced with."""

_WIDEST_FORM = len("\\u002b")
"""The most characters one character of the token takes in any form :class:`Redactor` knows."""


def _character(char: str) -> str:
    """Give a pattern matching one character of the token in any of its forms."""
    code = ord(char)
    forms = [re.escape(char), f"%{code:02x}", f"%25{code:02x}", re.escape(f"\\u{code:04x}")]
    if char in '/"\\':
        forms.append(re.escape(f"\\{char}"))
    return "(?:" + "|".join(forms) + ")"


class Redactor:
    """
    Replace one token in texts a server controls.

    :param token: the API token (not empty).
    """

    def __init__(self, token: str) -> None:
        self._pattern = re.compile("".join(_character(char) for char in token), re.IGNORECASE)
        self._widest = len(token) * _WIDEST_FORM

    def redact(self, text: str) -> str:
        """
        Return ``text`` with the token, in any form, replaced by :data:`MASK`.

        :param text: anything a server may have put the token in.
        """
        return self._pattern.sub(MASK, text)

    def cut(self, text: str, limit: int, *, mark: str = "") -> str:
        """
        Redact ``text`` whole, then shorten it to at most ``limit`` characters.

        :param text: anything a server may have put the token in.
        :param limit: the most characters returned (``mark`` included).
        :param mark: what ends a shortened text (``…``, say).
        """
        text = self.redact(text)
        return text if len(text) <= limit else text[: limit - len(mark)] + mark

    def without_partial_tail(self, text: str) -> str:
        """
        Redact a text that was read only in part, and drop its tail, where a token may have begun.

        :param text: the start of a longer text a server sent.
        """
        return self.redact(text)[: -self._widest]

    def carries_token(self, text: str) -> bool:
        """
        Tell whether ``text`` holds the token in any form :meth:`redact` replaces.

        :param text: the text to search.
        """
        return self._pattern.search(text) is not None

    def scrubbed(self, error: BaseException) -> BaseException | None:
        """
        Return ``error`` to chain as a cause, or ``None`` when it or anything it chains holds the token.

        :param error: an exception whose text a server may control (a ``requests`` failure).
        """
        for linked in causes(error):
            if self.carries_token(f"{linked!s} {linked!r}"):
                return None
        return error


__all__ = ["MASK", "Redactor"]
