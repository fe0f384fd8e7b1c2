"""storage.py against a real S3 endpoint: moto's server on loopback, reached through an aws connection."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from airflow_provider_vyro.exceptions import VyroInputError, VyroOutputWriteError
from airflow_provider_vyro.images import inspect_image
from airflow_provider_vyro.storage import (
    HEADER_BLOCK_SIZE,
    atomic_writer,
    check_writable_destination,
    default_output_path,
    exists,
    open_for_read,
    resolve,
    same_location,
    stat_input,
)
from tests.moto_server import MotoS3Server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        yield server


@pytest.fixture
def bucket(s3: MotoS3Server) -> str:
    name = f"vyro-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def put(s3: MotoS3Server, bucket: str, key: str, body: bytes) -> None:
    s3.client().put_object(Bucket=bucket, Key=key, Body=body)


def object_exists(s3: MotoS3Server, bucket: str, key: str) -> bool:
    listing = s3.client().list_objects_v2(Bucket=bucket, Prefix=key)
    return any(item["Key"] == key for item in listing.get("Contents", []))


def record_calls(p: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every S3 operation the path's filesystem sends from now on, with its serialized request."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    p.fs.s3.meta.events.register("before-call.s3", before_call)
    return calls


def _conn_id(p: Any) -> str:
    """The connection a path is opened with: an attribute on Airflow 3, a storage option on Airflow 2."""
    conn_id = getattr(p, "conn_id", None)
    return str(conn_id if conn_id is not None else p.storage_options.get("conn_id"))


class TestResolve:
    def test_conn_id_is_used(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/in/x.jpg", field="image_path", conn_id=s3.conn_id)
        assert p.protocol == "s3"
        assert _conn_id(p) == s3.conn_id
        assert p.path == f"{bucket}/in/x.jpg"
        assert str(p) == f"s3://{s3.conn_id}@{bucket}/in/x.jpg"
        assert p.fs.endpoint_url == s3.endpoint_url

    def test_conn_id_in_the_uri_wins(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{s3.conn_id}@{bucket}/x.jpg", field="image_path", conn_id="some_other_conn")
        assert _conn_id(p) == s3.conn_id
        put(s3, bucket, "x.jpg", b"abc")
        assert stat_input(p, field="image_path") == 3


class TestStatInput:
    def test_size(self, s3: MotoS3Server, bucket: str) -> None:
        put(s3, bucket, "in/x.jpg", b"hello")
        p = resolve(f"s3://{bucket}/in/x.jpg", field="image_path", conn_id=s3.conn_id)
        assert stat_input(p, field="image_path") == 5

    def test_missing_key(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/in/nope.jpg", field="image_path", conn_id=s3.conn_id)
        with pytest.raises(VyroInputError) as info:
            stat_input(p, field="image_path")
        assert info.value.field == "image_path"
        assert info.value.problem == f"'s3://{bucket}/in/nope.jpg' does not exist"

    def test_missing_bucket(self, s3: MotoS3Server) -> None:
        p = resolve("s3://no-such-bucket-vyro/x.jpg", field="mask_path", conn_id=s3.conn_id)
        with pytest.raises(VyroInputError) as info:
            stat_input(p, field="mask_path")
        assert info.value.problem == (
            "'s3://no-such-bucket-vyro/x.jpg' cannot be read: the bucket 'no-such-bucket-vyro' does not exist"
        )

    def test_prefix_is_not_an_object(self, s3: MotoS3Server, bucket: str) -> None:
        put(s3, bucket, "in/x.jpg", b"hello")
        p = resolve(f"s3://{bucket}/in", field="image_path", conn_id=s3.conn_id)
        with pytest.raises(VyroInputError, match=r"is a folder \(a key prefix\), not an object"):
            stat_input(p, field="image_path")

    def test_access_denied(self, s3: MotoS3Server, bucket: str) -> None:
        put(s3, bucket, "in/x.jpg", b"hello")
        p = resolve(f"s3://{bucket}/in/x.jpg", field="image_path", conn_id=s3.conn_id)
        with s3.enforce_auth():
            with pytest.raises(VyroInputError, match="cannot be read: access denied"):
                stat_input(p, field="image_path")
            with pytest.raises(VyroInputError, match="cannot be read: access denied"):
                open_for_read(p, field="image_path")


class TestRead:
    def test_header_inspection_reads_only_a_few_blocks(self, s3: MotoS3Server, bucket: str) -> None:
        buffer = io.BytesIO()
        Image.effect_noise((1024, 1024), 64).convert("RGB").save(buffer, "PNG", compress_level=0)
        data = buffer.getvalue()
        assert len(data) > 3 * 1024 * 1024
        put(s3, bucket, "in/big.png", data)
        p = resolve(f"s3://{bucket}/in/big.png", field="image_path", conn_id=s3.conn_id)
        calls = record_calls(p)
        size = stat_input(p, field="image_path")
        with open_for_read(p, field="image_path", block_size=HEADER_BLOCK_SIZE) as f:
            info = inspect_image(f, field="image_path", name=f"s3://{bucket}/in/big.png", size=size)
        assert (info.format, info.width, info.height, info.size) == ("PNG", 1024, 1024, len(data))
        fetched = 0
        for name, params in calls:
            if name == "GetObject":
                first, last = params["headers"]["Range"].removeprefix("bytes=").split("-")
                fetched += int(last) - int(first) + 1
        assert 0 < fetched <= 2 * HEADER_BLOCK_SIZE + 64

    def test_full_read(self, s3: MotoS3Server, bucket: str) -> None:
        body = os.urandom(300_000)
        put(s3, bucket, "in/blob.jpg", body)
        p = resolve(f"s3://{bucket}/in/blob.jpg", field="image_path", conn_id=s3.conn_id)
        with open_for_read(p, field="image_path") as f:
            assert f.read() == body


class TestCheckWritableDestination:
    def test_existing_bucket(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/out/new/x.png", field="output_path", conn_id=s3.conn_id)
        check_writable_destination(p, field="output_path")
        assert s3.client().list_objects_v2(Bucket=bucket, Prefix="out/")["KeyCount"] == 0, "nothing written"

    def test_missing_bucket(self, s3: MotoS3Server) -> None:
        p = resolve("s3://no-such-bucket-vyro/out.png", field="output_path", conn_id=s3.conn_id)
        with pytest.raises(VyroInputError) as info:
            check_writable_destination(p, field="output_path")
        assert info.value.field == "output_path"
        assert info.value.problem == (
            "'s3://no-such-bucket-vyro/out.png' cannot be written: "
            "the bucket 'no-such-bucket-vyro' does not exist"
        )

    def test_bucket_only(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/", field="output_path", conn_id=s3.conn_id)
        with pytest.raises(VyroInputError, match="names a bucket, not an object"):
            check_writable_destination(p, field="output_path")

    def test_a_denied_probe_is_unknown_and_the_write_decides(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/out.png", field="output_path", conn_id=s3.conn_id)
        with s3.enforce_auth():
            check_writable_destination(p, field="output_path")  # a role may put without listing
            with pytest.raises(VyroOutputWriteError) as caught, atomic_writer(p) as f:
                f.write(b"\x89PNG")
        assert not isinstance(caught.value, VyroInputError), "the write's own error is not an input error"
        assert isinstance(caught.value.__cause__, PermissionError)
        assert "Contents" not in s3.client().list_objects_v2(Bucket=bucket)
        kept = caught.value.kept_at
        assert kept is not None
        assert Path(kept).read_bytes() == b"\x89PNG", "the answer is kept locally for recovery"
        Path(kept).unlink()


def write_then_fail(p: Any, error: BaseException, temporary: list[str]) -> None:
    with atomic_writer(p) as f:
        f.write(b"\x89PNG partial")
        assert os.path.exists(f.name)
        temporary.append(f.name)
        raise error


class TestAtomicWriter:
    def test_uploads_once_when_complete(self, s3: MotoS3Server, bucket: str) -> None:
        p = resolve(f"s3://{bucket}/out/x.png", field="output_path", conn_id=s3.conn_id)
        calls = record_calls(p)
        body = os.urandom(200_000)
        with atomic_writer(p) as f:
            for i in range(0, len(body), 7_000):
                f.write(body[i : i + 7_000])
            assert not object_exists(s3, bucket, "out/x.png")
            assert calls == []
        uploads = [name for name, _ in calls if name in ("PutObject", "CreateMultipartUpload", "UploadPart")]
        assert uploads == ["PutObject"]
        answer = s3.client().get_object(Bucket=bucket, Key="out/x.png")
        assert answer["Body"].read() == body
        assert answer["ContentType"] == "image/png"
        assert exists(p)

    def test_aborted_write_leaves_no_object_and_no_temporary_file(
        self, s3: MotoS3Server, bucket: str
    ) -> None:
        p = resolve(f"s3://{bucket}/out/x.png", field="output_path", conn_id=s3.conn_id)
        calls = record_calls(p)
        temporary: list[str] = []
        with pytest.raises(ValueError, match="truncated"):
            write_then_fail(p, ValueError("truncated"), temporary)
        assert len(temporary) == 1
        assert not os.path.exists(temporary[0])
        assert calls == []
        assert not object_exists(s3, bucket, "out/x.png")
        assert not exists(p)

    def test_aborted_write_keeps_the_previous_object(self, s3: MotoS3Server, bucket: str) -> None:
        put(s3, bucket, "out/x.png", b"old")
        p = resolve(f"s3://{bucket}/out/x.png", field="output_path", conn_id=s3.conn_id)
        with pytest.raises(RuntimeError):
            write_then_fail(p, RuntimeError(), [])
        assert s3.client().get_object(Bucket=bucket, Key="out/x.png")["Body"].read() == b"old"


def test_default_output_path_round_trip(s3: MotoS3Server, bucket: str) -> None:
    image_path = f"s3://{bucket}/in/2024-01-01/photo.jpg"
    output_path = default_output_path(image_path)
    assert output_path == f"s3://{bucket}/in/2024-01-01/photo_inpainted.png"
    p = resolve(output_path, field="output_path", conn_id=s3.conn_id)
    check_writable_destination(p, field="output_path")
    with atomic_writer(p) as f:
        f.write(b"result")
    assert object_exists(s3, bucket, "in/2024-01-01/photo_inpainted.png")


def test_same_location(s3: MotoS3Server, bucket: str) -> None:
    a = resolve(f"s3://{bucket}/in/x.jpg", field="image_path", conn_id=s3.conn_id)
    assert same_location(a, resolve(f"s3a://{bucket}/in/x.jpg", field="output_path", conn_id=s3.conn_id))
    assert same_location(a, resolve(f"s3://{s3.conn_id}@{bucket}/in/x.jpg", field="output_path"))
    assert not same_location(a, resolve(f"s3://{bucket}/in/x.png", field="output_path", conn_id=s3.conn_id))
    assert not same_location(a, resolve(f"/{bucket}/in/x.jpg", field="output_path"))


def test_a_new_server_under_the_same_conn_id_is_reached() -> None:
    """Airflow caches one filesystem per conn id; the helper forgets it when a server stops."""
    for round_ in range(2):
        with MotoS3Server(conn_id="vyro_test_reused") as server:
            server.client().create_bucket(Bucket="reused")
            p = resolve(f"s3://reused/x{round_}.png", field="output_path", conn_id=server.conn_id)
            assert p.fs.endpoint_url == server.endpoint_url
            with atomic_writer(p) as f:
                f.write(b"x")
            assert object_exists(server, "reused", f"x{round_}.png")
