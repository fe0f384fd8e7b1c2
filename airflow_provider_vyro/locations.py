"""
Where a file is: one definition of a location, whatever form its path was given in.

A user names a file as a local path (``out/a.png``, ``~/a.png``), a ``file://`` URI, or an
object-storage URI (``s3://bucket/key``, ``s3a://...``, ``s3://conn_id@bucket/key``). Once
:func:`airflow_provider_vyro.storage.resolve` has made an :class:`~airflow.sdk.ObjectStoragePath`
of it, this module says where that is, the same way for every reader:

* :class:`Location` (scheme, bucket, key): ``s3a`` and ``s3n`` are ``s3``, a local file is
  ``file`` with its absolute path, and the connection id is never part of it. Asset URIs and
  OpenLineage dataset names are made from it.
* :func:`location_key`: one string per file or object, for telling two paths apart; local paths
  also have their symlinks resolved, so one file has one key.

It imports nothing of the provider and nothing heavy: the paths are only read (``protocol``,
``path`` and the connection they carry).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

LOCAL_SCHEMES: frozenset[str] = frozenset({"", "file", "local"})
"""Schemes of local files: a plain path (no scheme), ``file://`` and ``local://``."""

SCHEME_ALIASES: dict[str, str] = {"s3a": "s3", "s3n": "s3"}
"""Schemes that name the same store as another: ``s3a://`` and ``s3n://`` are ``s3://``."""

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_URI_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def split_uri(path: str) -> tuple[str, str] | None:
    """
    Split ``scheme://rest`` into the scheme (in lower case) and the rest; ``None`` for a plain path.

    :param path: a path or URI as a user gave it.
    """
    match = _URI.match(path)
    if match is None:
        return None
    return match["scheme"].lower(), match["rest"]


def absolute_local(path: str) -> str:
    """
    Give a local path as an absolute, normalised path (``..`` and ``.`` removed, one leading slash).

    A relative path is taken relative to the current working directory; ``~`` is not expanded.

    :param path: a local path.
    """
    absolute = os.path.abspath(path)
    if absolute.startswith("//"):
        absolute = "/" + absolute.lstrip("/")
    return absolute


def is_local(p: ObjectStoragePath) -> bool:
    """
    Tell whether a resolved path is a local file.

    :param p: a resolved path.
    """
    return (p.protocol or "") in LOCAL_SCHEMES


def conn_id_of(p: ObjectStoragePath) -> str | None:
    """
    Give the connection a resolved path is attached to, or ``None``.

    An attribute on Airflow 3, a storage option on Airflow 2.

    :param p: a resolved path.
    """
    conn_id = getattr(p, "conn_id", None)
    if conn_id is None:
        conn_id = (getattr(p, "storage_options", None) or {}).get("conn_id")
    return str(conn_id) if conn_id is not None else None


def display(p: ObjectStoragePath) -> str:
    """
    Show a resolved path in a message: the local path, or ``scheme://bucket/key``.

    :param p: a resolved path.
    """
    if is_local(p):
        return str(p.path)
    return f"{p.protocol}://{p.path}"


@dataclass(frozen=True)
class Location:
    """
    Where a file is, without the connection that reaches it.

    :param scheme: ``file`` for a local file, else the store's scheme (``s3a``/``s3n`` are ``s3``).
    :param bucket: the bucket or container; empty for a local file.
    :param key: the key in the bucket, or a local file's absolute path.
    """

    scheme: str
    bucket: str
    key: str

    @classmethod
    def of(cls, p: ObjectStoragePath) -> Location:
        """
        Give the location of a resolved path.

        :param p: a path resolved by :func:`airflow_provider_vyro.storage.resolve`.
        """
        scheme = (p.protocol or "").lower()
        if scheme in LOCAL_SCHEMES:
            return cls("file", "", os.path.abspath(p.path))
        bucket, _, key = str(p.path).partition("/")
        return cls(SCHEME_ALIASES.get(scheme, scheme), bucket, key)

    @property
    def uri(self) -> str:
        """Its URI, percent-encoded where a URI must be: ``s3://bucket/key`` or ``file:///absolute/path``."""
        if self.scheme == "file":
            return "file://" + quote(self.key, safe=_URI_PATH_SAFE)
        return f"{self.scheme}://{self.bucket}/{quote(self.key, safe=_URI_PATH_SAFE)}"

    @property
    def dataset(self) -> tuple[str, str]:
        """
        Its OpenLineage namespace and name, as the naming spec says.

        An object is namespace ``s3://bucket`` and name ``key``; a local file is namespace ``file``
        and name its absolute path.
        """
        if self.scheme == "file":
            return "file", self.key
        return f"{self.scheme}://{self.bucket}", self.key


def location_key(p: ObjectStoragePath) -> str:
    """
    Give one string per file or object, whatever form its path was given in.

    Local paths are absolute with symlinks resolved (``out/a.png``, ``./out/a.png`` and a link
    to it are one); ``s3``, ``s3a`` and ``s3n`` are one scheme; a connection id in the URI
    (``s3://conn@bucket/key``) is not part of the location.

    :param p: a resolved path.
    """
    place = Location.of(p)
    if place.scheme == "file":
        return f"file://{os.path.realpath(place.key)}"
    return f"{place.scheme}://{place.bucket}/{place.key}".rstrip("/")


class LocalKeys:
    """
    The locations of local paths for one run: each folder's symlinks are resolved once.

    :meth:`key` gives what :func:`location_key` gives for the path's
    :class:`~airflow.sdk.ObjectStoragePath`: ``os.path.realpath`` reads every component of a
    path (one ``lstat`` each); here a folder is resolved the first time one of its paths is
    asked for, and a path the first time it is asked for (one ``lstat`` of its last component).
    Folders that change while a run is resolved are not followed (a run resolves its items at
    its start).
    """

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._keys: dict[str, str] = {}

    def key(self, path: str) -> str:
        """
        Give the location of an absolute, normalised local path (``file://`` and its real path).

        :param path: the path, as :func:`absolute_local` gives it.
        """
        key = self._keys.get(path)
        if key is None:
            folder, name = os.path.split(path)
            real_folder = self._folders.get(folder)
            if real_folder is None:
                real_folder = self._folders[folder] = os.path.realpath(folder)
            real = os.path.join(real_folder, name)
            if os.path.islink(real):
                real = os.path.realpath(real)
            key = self._keys[path] = f"file://{real}"
        return key


def same_local_file(a: str, b: str) -> bool:
    """
    Tell whether two local paths are one existing file (by inode).

    :param a: a local path.
    :param b: another local path.
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def same_file(a: ObjectStoragePath, b: ObjectStoragePath) -> bool:
    """
    Tell whether two local paths are one existing file (by inode); ``False`` if either is remote.

    :param a: a resolved path.
    :param b: another resolved path.
    """
    return is_local(a) and is_local(b) and same_local_file(a.path, b.path)


def same_location(a: ObjectStoragePath, b: ObjectStoragePath) -> bool:
    """
    Tell whether two paths name the same file or object.

    Local paths are compared after resolving symlinks (and by inode when both exist); remote
    ones by scheme (``s3``, ``s3a`` and ``s3n`` are one), bucket and key. Connection ids are
    ignored: the same bucket and key through two connections is taken to be the same object.

    :param a: a resolved path.
    :param b: another resolved path.
    """
    return location_key(a) == location_key(b) or same_file(a, b)


def asset_uri(p: ObjectStoragePath) -> str:
    """
    Give the asset URI of a resolved path: ``s3://bucket/key`` or ``file:///absolute/path``.

    :param p: a path resolved by :func:`airflow_provider_vyro.storage.resolve`.
    """
    return Location.of(p).uri


def path_of(uri: str) -> str:
    """
    Turn an asset URI made by :func:`asset_uri` back into a path a Vyro operator accepts.

    ``file:///data/a%20b.png`` gives ``/data/a b.png``; ``s3://bucket/a%20b.png`` gives
    ``s3://bucket/a b.png``.

    :param uri: the asset's URI, e.g. ``event.asset.uri`` of a triggering asset event.
    """
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path)
    return f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"


__all__ = [
    "LOCAL_SCHEMES",
    "SCHEME_ALIASES",
    "LocalKeys",
    "Location",
    "absolute_local",
    "asset_uri",
    "conn_id_of",
    "display",
    "is_local",
    "location_key",
    "path_of",
    "same_file",
    "same_local_file",
    "same_location",
    "split_uri",
]
