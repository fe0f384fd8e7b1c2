"""The MP4 check: boxes whose sizes add up to the file, ftyp first, moov and mdat present."""

from __future__ import annotations

import struct

import pytest

from airflow_provider_vyro.emulator.clips import render, structural_mp4
from airflow_provider_vyro.mp4 import Mp4StreamChecker


def check(data: bytes, chunk: int = 7) -> Mp4StreamChecker:
    checker = Mp4StreamChecker()
    for start in range(0, len(data), chunk):
        checker.feed(data[start : start + chunk])
    return checker


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def test_an_encoded_clip_is_complete_with_its_picture_size() -> None:
    data = render(None, "a lighthouse at dusk", "kling-1.0-pro", "16:9")
    info = check(data, chunk=4096).result()
    assert info.boxes[0] == "ftyp"
    assert {"moov", "mdat"} <= set(info.boxes)
    assert (info.size, info.width, info.height) == (len(data), 320, 180)


@pytest.mark.parametrize("cut", [1, 8, 100])
def test_a_cut_short_file_is_refused(cut: int) -> None:
    data = render(None, "waves", "kling-1.0-pro", "1:1")
    with pytest.raises(ValueError, match="cut short"):
        check(data[:-cut]).result()


def test_bytes_after_the_last_box_are_refused() -> None:
    data = structural_mp4((64, 64)) + b"\x00\x00"
    with pytest.raises(ValueError, match=r"cut short|box"):
        check(data).result()


def test_ftyp_must_come_first() -> None:
    with pytest.raises(ValueError, match="ftyp"):
        check(box(b"moov", b"") + box(b"ftyp", b"isom") + box(b"mdat", b"")).result()


@pytest.mark.parametrize("missing", [b"moov", b"mdat"])
def test_moov_and_mdat_must_be_present(missing: bytes) -> None:
    boxes = [box(b"ftyp", b"isom\x00\x00\x00\x00"), box(b"moov", b""), box(b"mdat", b"xx")]
    data = b"".join(b for b in boxes if b[4:8] != missing)
    with pytest.raises(ValueError, match=missing.decode()):
        check(data).result()


def test_a_64_bit_box_size_is_read() -> None:
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 5) + b"12345"
    info = check(box(b"ftyp", b"isom") + box(b"moov", b"") + mdat, chunk=3).result()
    assert info.boxes == ("ftyp", "moov", "mdat")


def test_not_an_mp4_is_refused() -> None:
    with pytest.raises(ValueError, match="ftyp"):
        check(b"<html>not a video</html>").result()
    with pytest.raises(ValueError, match="empty"):
        Mp4StreamChecker().result()
