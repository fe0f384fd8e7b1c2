"""The joined body is byte for byte requests-toolbelt's; large bodies stream through the encoder."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from requests_toolbelt.multipart.encoder import MultipartEncoder

from airflow_provider_vyro import multipart
from airflow_provider_vyro.multipart import FilePart

BOUNDARY = "0123456789abcdef0123456789abcdef"


def _toolbelt(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> bytes:
    form: dict[str, object] = dict(fields)
    form.update({name: (filename, io.BytesIO(data), kind) for name, (filename, data, kind) in files.items()})
    body: bytes = MultipartEncoder(fields=form, boundary=BOUNDARY).to_string()
    return body


def _ours(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> bytes | MultipartEncoder:
    parts = {
        name: FilePart(filename, io.BytesIO(data), len(data), kind)
        for name, (filename, data, kind) in files.items()
    }
    body, content_type = multipart.encode(fields, parts, boundary=BOUNDARY)
    assert content_type == f"multipart/form-data; boundary={BOUNDARY}"
    return body


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=200)


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.one_of(_TEXT, st.sampled_from(['say "hi"\r\n--boundary\r\n', "é" * 1000, "x\n" * 400])),
    filename=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40),
    image=st.binary(max_size=2000),
)
def test_joined_body_equals_the_encoders(prompt: str, filename: str, image: bytes) -> None:
    fields = {"prompt": prompt, "model_version": "1"}
    files = {"image": (filename, image, "image/png"), "mask": ("m.jpg", b"\xff\xd8mask", "image/jpeg")}
    body = _ours(fields, files)
    assert isinstance(body, bytes), "a small body is joined in memory"
    assert body == _toolbelt(fields, files)


def test_fields_only_and_empty_forms_equal_the_encoders() -> None:
    assert _ours({"style": "imagine-turbo"}, {}) == _toolbelt({"style": "imagine-turbo"}, {})
    assert _ours({}, {}) == _toolbelt({}, {})


def test_files_are_sent_whole_from_their_start_and_only_their_length() -> None:
    data = io.BytesIO(b"0123456789tail")
    data.seek(7)
    body, _ = multipart.encode({}, {"image": FilePart("a.png", data, 10, "image/png")}, boundary=BOUNDARY)
    assert isinstance(body, bytes)
    assert b"\r\n\r\n0123456789\r\n--" in body
    assert b"tail" not in body


def test_a_large_body_streams_and_has_the_same_bytes() -> None:
    big = bytes(range(256)) * (multipart.IN_MEMORY_LIMIT // 256 + 1)
    files = {"image": ("big.png", big, "image/png")}
    body = _ours({"prompt": "p"}, files)
    assert isinstance(body, MultipartEncoder), "over the limit, the encoder streams from the file"
    assert body.len == len(_toolbelt({"prompt": "p"}, files))
    assert body.read() == _toolbelt({"prompt": "p"}, files)
