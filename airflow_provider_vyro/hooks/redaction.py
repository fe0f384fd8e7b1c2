"""
Keeping the API token out of what a server sends back: messages, headers, exception chains.

A server may echo the token it received (an error body, a ``Location``, a broken status line).
Whatever the hook shows of an answer goes through a :class:`Redactor` first, which replaces the
token, as sent or URL-encoded, with ``***``.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from airflow_provider_vyro.failures import causes

MASK = "***"
"""What the token is replaced with."""


class Redactor:
    """
    Replace one token in texts a server controls.

    :param token: the API token.
    """

    def __init__(self, token: str) -> None:
        forms = (token, quote(token, safe=""), quote_plus(token))
        self._forms = tuple(dict.fromkeys(form for form in forms if form))

    def redact(self, text: str) -> str:
        """
        Return ``text`` with the token, as sent or URL-encoded, replaced by :data:`MASK`.

        :param text: anything a server may have put the token in.
        """
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def carries_token(self, text: str) -> bool:
        """
        Tell whether ``text`` holds the token in any form :meth:`redact` replaces.

        :param text: the text to search.
        """
        return any(form in text for form in self._forms)

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
