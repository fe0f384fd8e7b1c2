"""One definition of where a file is: the same location for every form of its path."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_provider_vyro import locations, storage
from airflow_provider_vyro.locations import Location

if TYPE_CHECKING:
    from pathlib import Path


def resolved(path: str, conn_id: str | None = "aws_default") -> Any:
    return storage.resolve(path, field="output_path", conn_id=conn_id)


@pytest.mark.parametrize(
    "path",
    [
        "s3://bucket/out/a.png",
        "s3a://bucket/out/a.png",
        "s3://aws_other@bucket/out/a.png",
        "S3://bucket/out/a.png",
    ],
)
def test_every_form_of_an_s3_object_is_one_location(path: str) -> None:
    p = resolved(path)
    assert Location.of(p) == Location("s3", "bucket", "out/a.png")
    assert locations.location_key(p) == "s3://bucket/out/a.png"
    assert Location.of(p).dataset == ("s3://bucket", "out/a.png")
    assert locations.asset_uri(p) == "s3://bucket/out/a.png"


def test_s3n_is_s3_too() -> None:
    p = cast("Any", SimpleNamespace(protocol="s3n", path="bucket/out/a.png"))
    assert Location.of(p) == Location("s3", "bucket", "out/a.png")
    assert locations.location_key(p) == "s3://bucket/out/a.png"


def test_the_connection_is_read_but_never_part_of_the_location() -> None:
    assert locations.conn_id_of(resolved("s3://aws_other@bucket/a.png")) == "aws_other"
    assert locations.conn_id_of(resolved("s3://bucket/a.png", "aws_mine")) == "aws_mine"
    assert locations.conn_id_of(resolved("/data/a.png", None)) is None


@pytest.mark.parametrize("form", ["{d}/x.png", "file://{d}/x.png", "file://localhost{d}/x.png", "x.png"])
def test_every_form_of_a_local_file_is_one_location(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    p = resolved(form.format(d=tmp_path), None)
    assert locations.is_local(p)
    assert Location.of(p) == Location("file", "", f"{tmp_path}/x.png")
    assert Location.of(p).dataset == ("file", f"{tmp_path}/x.png")
    assert locations.asset_uri(p) == f"file://{tmp_path}/x.png"
    assert locations.location_key(p) == f"file://{os.path.realpath(tmp_path)}/x.png"


def test_a_file_reached_through_a_symlink_has_one_key(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    direct = resolved(f"{tmp_path}/real/x.png", None)
    linked = resolved(f"{tmp_path}/link/x.png", None)
    assert locations.location_key(direct) == locations.location_key(linked)
    assert locations.same_location(direct, linked)
    assert locations.asset_uri(linked) == f"file://{tmp_path}/link/x.png", "the URI keeps the path given"


def test_a_runs_local_keys_are_the_location_keys(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "x.png").write_bytes(b"x")
    (tmp_path / "real" / "alias.png").symlink_to(tmp_path / "real" / "x.png")
    keys = locations.LocalKeys()
    for path in ("real/x.png", "link/x.png", "link/alias.png", "real/missing.png", "link/new/y.png"):
        local = storage.local_path(f"{tmp_path}/{path}", field="output_path")
        assert local is not None
        assert keys.key(local) == locations.location_key(resolved(local, None)), path
        assert keys.key(local) == keys.key(local), "asked again, the same key"


def test_a_local_path_is_a_string_until_storage_is_touched(tmp_path: Path) -> None:
    assert storage.local_path(f"file://{tmp_path}/a/../x.png", field="image_path") == f"{tmp_path}/x.png"
    assert storage.local_path("s3://bucket/x.png", field="image_path") is None
    location = storage.local_location(f"{tmp_path}/x.png")
    assert locations.is_local(location)
    assert location.path == resolved(f"{tmp_path}/x.png", None).path


def test_two_objects_are_two_locations() -> None:
    a = resolved("s3://bucket/out/a.png")
    assert not locations.same_location(a, resolved("s3://bucket/out/b.png"))
    assert not locations.same_location(a, resolved("s3://other/out/a.png"))
    assert not locations.same_file(a, a), "same_file compares local files only"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("s3://b/k/a.png", ("s3", "b/k/a.png")), ("/data/a.png", None), ("data/a.png", None)],
)
def test_split_uri(path: str, expected: tuple[str, str] | None) -> None:
    assert locations.split_uri(path) == expected


def test_uri_and_path_of_undo_each_other() -> None:
    p = resolved("/data/a b%.png", None)
    assert locations.asset_uri(p) == "file:///data/a%20b%25.png"
    assert locations.path_of(locations.asset_uri(p)) == "/data/a b%.png"


def test_display_shows_a_local_path_plain_and_a_remote_one_with_its_scheme() -> None:
    assert locations.display(resolved("/data/a.png", None)) == "/data/a.png"
    assert locations.display(resolved("s3://aws_other@bucket/a.png")) == "s3://bucket/a.png"
