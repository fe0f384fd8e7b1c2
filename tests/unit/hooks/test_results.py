"""Where a job's result may be fetched from: https, or http to this machine only."""

from __future__ import annotations

import pytest

from airflow_provider_vyro.exceptions import VyroUnexpectedResponseError
from airflow_provider_vyro.hooks.results import check_result_url, shown_url


@pytest.mark.parametrize(
    "url",
    [
        "https://storage.example.com/v/1.mp4?X-Amz-Signature=abc",
        "http://127.0.0.2:8080/storage/1/video.mp4",
        "http://localhost/v.mp4",
        "http://[::1]:9/v.mp4",
    ],
)
def test_https_and_loopback_http_are_fetched(url: str) -> None:
    assert check_result_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["http://storage.example.com/v.mp4", "ftp://storage.example.com/v.mp4", "file:///etc/passwd", "", None],
)
def test_anything_else_is_refused(url: object) -> None:
    with pytest.raises(VyroUnexpectedResponseError):
        check_result_url(url)


def test_a_signed_urls_query_is_never_shown() -> None:
    shown = shown_url("https://storage.example.com:8443/v/1.mp4?X-Amz-Signature=secret&token=t")
    assert shown == "https://storage.example.com:8443/v/1.mp4"
