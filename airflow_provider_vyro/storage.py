"""
Where images come from and results go: local paths, ``file://`` and remote URIs such as ``s3://``.

Paths are resolved to Airflow's :class:`~airflow.sdk.ObjectStoragePath`, so any scheme for which
an installed Airflow provider registers a filesystem works (``s3://`` with the amazon provider),
authenticated by an Airflow connection. Problems a user can fix (a missing file, a missing
bucket, a folder where a file should be, an unknown scheme) raise
:class:`~airflow_provider_vyro.exceptions.VyroInputError`; failures that may pass (network
errors, throttling) propagate unchanged.

Writing is :mod:`airflow_provider_vyro.writes` (atomic writes, temporary files); its names are
also importable from here. ``airflow.sdk.ObjectStoragePath`` pulls in fsspec and
universal_pathlib, so it is imported inside the functions: importing this module stays cheap for
DAG parsing.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import stat
from typing import TYPE_CHECKING, BinaryIO, cast

from airflow_provider_vyro.catalogue import INPAINT
from airflow_provider_vyro.exceptions import VyroInputError
from airflow_provider_vyro.locations import (
    LOCAL_SCHEMES,
    absolute_local,
    conn_id_of,
    display,
    is_local,
    location_key,
    same_file,
    same_location,
    split_uri,
)
from airflow_provider_vyro.writes import (
    STALE_TEMP_AGE,
    TEMP_PATTERN,
    TEMP_PREFIX,
    TempFiles,
    atomic_writer,
    existing_folders,
    fsync_directory,
    local_folder,
    missing_folders,
    record_lineage,
    remove_empty_folders,
    remove_stale_temp_files,
    temp_folder,
)

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

OUTPUT_SUFFIX: str = INPAINT.output_suffix or ""
"""What :func:`default_output_path` puts after the image's stem by default (inpaint's)."""

HEADER_BLOCK_SIZE = 256 * 1024
"""A read-ahead block size suited to reading only an image's header from remote storage."""

_BROKEN_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):/(?!/)")


def supported_schemes() -> frozenset[str]:
    """
    List the schemes :func:`resolve` accepts.

    Local paths (no scheme), ``file://`` and ``local://``, plus every scheme for which an
    installed Airflow provider registers a filesystem (``s3``, ``s3a`` and ``s3n`` with
    ``apache-airflow-providers-amazon``; ``gs`` with the google provider, ...). A scheme fsspec
    knows but no provider registers (``http``, ``memory``, ...) is not supported, because
    ``ObjectStoragePath`` cannot open it.
    """
    import fsspec

    return LOCAL_SCHEMES | frozenset(s for s in fsspec.available_protocols() if _has_fs(s))


def _has_fs(scheme: str) -> bool:
    try:
        from airflow.sdk.io import has_fs
    except ImportError:  # Airflow 2
        from airflow.io import has_fs  # type: ignore[attr-defined,no-redef]
    return bool(has_fs(scheme))


def is_supported_scheme(scheme: str) -> bool:
    """
    Tell whether :func:`resolve` accepts a scheme (see :func:`supported_schemes`).

    :param scheme: the scheme without ``://``, in lower case; ``""`` for a plain path.
    """
    return scheme in LOCAL_SCHEMES or _has_fs(scheme)


def _os_path(p: ObjectStoragePath) -> str | None:
    """
    Give the path for the operating system's own calls, or ``None`` to go through ``p.fs``.

    A local path without a connection (all that :func:`resolve` makes for local files) is the
    local filesystem: one ``os.stat`` or ``open`` costs microseconds where fsspec's wrappers
    cost tens. A local path attached to a connection keeps that connection's filesystem.
    """
    if is_local(p) and conn_id_of(p) is None:
        return p.path
    return None


def _path_text(path: object, field: str, hint: str) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise VyroInputError(field, f"must be a path or URI string, got {type(path).__name__} {path!r}")
    if not path.strip():
        raise VyroInputError(field, f"is empty; {hint}")
    return path


def local_path(path: str | os.PathLike[str], *, field: str) -> str | None:
    """
    Check a path or URI given by a user; give its absolute local path, or ``None`` if it is remote.

    What :func:`resolve` makes of a local path, without building the
    :class:`~airflow.sdk.ObjectStoragePath` (:func:`local_location` builds it): ``~`` expanded, a
    relative path taken from the current working directory, ``file:///abs/path`` (or
    ``file://localhost/abs/path``) as is. A remote URI is checked by :func:`resolve`.

    :param path: the path or URI.
    :param field: the argument it was given as, for error messages.
    :raises VyroInputError: if the path is empty or not a string, has a NUL character, looks like
        a URI with a missing slash, or is a relative ``file://`` URI.
    """
    path = _path_text(path, field, "give a local path, a file:// URI or e.g. an s3:// URI")
    if "\x00" in path:
        raise VyroInputError(field, f"{path!r} contains a NUL character")
    split = split_uri(path)
    if split is None:
        broken = _BROKEN_URI.match(path)
        if broken:
            raise VyroInputError(
                field,
                f"'{path}' looks like a URI with a missing slash; write it as {broken['scheme']}://...",
            )
        return absolute_local(os.path.expanduser(path))
    scheme, rest = split
    if scheme not in LOCAL_SCHEMES:
        return None
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    if not rest.startswith("/"):
        raise VyroInputError(
            field, f"'{path}' is not an absolute {scheme}:// URI; write it as {scheme}:///absolute/path"
        )
    return absolute_local(rest)


def local_location(path: str) -> ObjectStoragePath:
    """
    Give the :class:`~airflow.sdk.ObjectStoragePath` of an absolute local path from :func:`local_path`.

    :param path: the absolute local path.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    return ObjectStoragePath(path, protocol="file")


def resolve(path: str | os.PathLike[str], *, field: str, conn_id: str | None = None) -> ObjectStoragePath:
    """
    Turn a path or URI given by a user into an :class:`~airflow.sdk.ObjectStoragePath`.

    * A plain local path becomes ``file://`` and its absolute path: ``~`` is expanded and a
      relative path is taken relative to the current working directory of the process running
      the task.
    * ``file:///abs/path`` (or ``file://localhost/abs/path``) is taken as is; the rest of the URI
      is not percent-decoded, so ``file:///a%20b.png`` names a file called ``a%20b.png``.
    * A remote URI (``s3://bucket/key``) is opened with ``conn_id``, unless the URI names its own
      connection as ``s3://conn_id@bucket/key``. Without either, the provider's default applies
      (for S3, boto3's own credential chain).

    :param path: the path or URI.
    :param field: the argument it was given as, for error messages.
    :param conn_id: the Airflow connection for remote URIs; ignored for local paths.
    :raises VyroInputError: if the path is empty or not a string, uses an unsupported scheme,
        or is malformed.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    local = local_path(path, field=field)
    if local is not None:
        return local_location(local)
    path = _path_text(path, field, "")
    scheme, rest = split_uri(path) or ("", path)
    if not is_supported_scheme(scheme):
        raise VyroInputError(field, _unsupported_scheme_problem(path, scheme))
    authority = rest.split("/", 1)[0]
    userinfo, _, bucket = authority.rpartition("@")
    if not bucket:
        raise VyroInputError(field, f"'{path}' has no bucket or container; write it as {scheme}://bucket/key")
    # Schemes are case-insensitive, but Airflow 2's ObjectStoragePath refuses ``S3://`` with a connection.
    uri = f"{scheme}://{rest}"
    try:
        if userinfo:
            return ObjectStoragePath(uri)
        return ObjectStoragePath(uri, conn_id=conn_id)
    except ValueError as exc:
        raise VyroInputError(field, f"'{path}' cannot be opened: {exc}") from None


def _unsupported_scheme_problem(path: str, scheme: str) -> str:
    import fsspec

    supported = ", ".join(f"{s}://" for s in sorted(supported_schemes()) if s)
    problem = f"'{path}' uses the unsupported scheme '{scheme}://'; use a local path or one of: {supported}"
    if scheme in fsspec.available_protocols():
        problem += (
            f" ({scheme}:// needs an installed Airflow provider that registers an object storage "
            "filesystem for it)"
        )
    return problem


def _split_for_naming(path: str) -> tuple[str, str]:
    split = split_uri(path)
    if split is None:
        return "", path
    scheme, rest = split
    prefix_len = len(path) - len(rest)
    if scheme in LOCAL_SCHEMES:
        return path[:prefix_len], rest
    authority, slash, key = rest.partition("/")
    return path[:prefix_len] + authority, slash + key


def default_output_path(
    image_path: str | os.PathLike[str], *, field: str = "image_path", suffix: str = OUTPUT_SUFFIX
) -> str:
    """
    Where a result goes when no output path is given: beside the image, as ``<stem>_inpainted.png``.

    The path keeps the form it was given in: ``/data/x.jpg`` gives ``/data/x_inpainted.png``,
    ``in/x.jpg`` gives ``in/x_inpainted.png``, ``file:///a/x.png`` gives
    ``file:///a/x_inpainted.png`` and ``s3://b/in/x.jpg`` gives ``s3://b/in/x_inpainted.png``.

    :param image_path: the image's path or URI, as the user gave it.
    :param field: the argument the image was given as, for error messages.
    :param suffix: what follows the stem (another operation's, e.g. ``_filled.png``).
    :raises VyroInputError: if the path does not name a file (empty, or ending with ``/``).
    """
    path = os.fspath(image_path)
    if not isinstance(path, str) or not path.strip():
        raise VyroInputError(field, f"cannot derive an output path from {path!r}")
    prefix, rest = _split_for_naming(path)
    parent, name = posixpath.split(rest)
    if name in ("", ".", ".."):
        raise VyroInputError(
            field, f"'{path}' does not name a file, so no output path can be derived from it"
        )
    stem = posixpath.splitext(name)[0]
    return prefix + posixpath.join(parent, stem + suffix)


def check_output_path(path: str | os.PathLike[str], *, field: str = "output_path") -> None:
    """
    Check that an output path names a ``.png`` file (the API answers PNG).

    :param path: the output path or URI, as the user gave it.
    :param field: the argument it was given as.
    :raises VyroInputError: if it is empty, ends with ``/`` or does not end in ``.png``
        (in any case).
    """
    path = _path_text(path, field, "give a .png path or URI, or leave it unset")
    name = posixpath.basename(_split_for_naming(path)[1])
    if not name:
        raise VyroInputError(field, f"'{path}' names a folder; give the full path of a .png file")
    if not name.lower().endswith(".png") or name.lower() == ".png":
        raise VyroInputError(field, f"'{path}' must end in .png: the API answers with a PNG image")


def _bucket(p: ObjectStoragePath) -> str:
    return p.path.split("/", 1)[0]


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    }
)


def _translate(exc: BaseException, p: ObjectStoragePath, *, field: str, action: str) -> VyroInputError | None:
    shown = display(p)
    code = _client_error_code(exc) or _client_error_code(exc.__cause__ or exc)
    if isinstance(exc, FileNotFoundError) or code in _MISSING_CODES:
        if not is_local(p) and _bucket(p) and not _bucket_exists(p):
            return VyroInputError(
                field, f"'{shown}' cannot be {action}: the bucket '{_bucket(p)}' does not exist"
            )
        return VyroInputError(field, f"'{shown}' does not exist")
    if isinstance(exc, NotADirectoryError):
        return VyroInputError(field, f"'{shown}' does not exist (a part of the path is a file, not a folder)")
    if isinstance(exc, IsADirectoryError):
        return VyroInputError(field, f"'{shown}' is a directory, not a file")
    if isinstance(exc, PermissionError) or code in _DENIED_CODES:
        denied = "permission denied" if is_local(p) else "access denied"
        return VyroInputError(field, f"'{shown}' cannot be {action}: {denied} ({exc})")
    if is_local(p) and isinstance(exc, OSError):
        return VyroInputError(field, f"'{shown}' cannot be {action}: {exc}")
    return None


def _bucket_exists(p: ObjectStoragePath) -> bool:
    try:
        p.fs.info(_bucket(p))
    except FileNotFoundError:
        return False
    except Exception:
        return True
    return True


def stat_input(p: ObjectStoragePath, *, field: str) -> int:
    """
    Check that an input file exists and can be read, and give its size.

    One ``stat`` locally, one ``HEAD`` request on S3.

    :param p: the resolved path (see :func:`resolve`).
    :param field: the argument it was given as.
    :return: the file's size in bytes.
    :raises VyroInputError: if it does not exist (for S3, also when the bucket does not), is a
        directory or something else than a regular file, or cannot be read (permission denied).
    """
    path = _os_path(p)
    if path is not None:
        return _stat_local(p, path, field=field)
    try:
        info = p.fs.info(p.path)
    except Exception as exc:
        translated = _translate(exc, p, field=field, action="read")
        if translated is None:
            raise
        raise translated from exc
    shown = display(p)
    kind = info.get("type")
    if kind == "directory":
        if is_local(p):
            raise VyroInputError(field, f"'{shown}' is a directory, not a file")
        raise VyroInputError(field, f"'{shown}' is a folder (a key prefix), not an object")
    if kind not in (None, "file"):
        raise VyroInputError(field, f"'{shown}' is not a regular file")
    if is_local(p) and not os.access(p.path, os.R_OK):
        raise VyroInputError(field, f"'{shown}' cannot be read: permission denied")
    return int(info.get("size") or 0)


def _stat_local(p: ObjectStoragePath, path: str, *, field: str) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        translated = _translate(exc, p, field=field, action="read")
        if translated is None:
            raise
        raise translated from exc
    if stat.S_ISDIR(st.st_mode):
        raise VyroInputError(field, f"'{path}' is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise VyroInputError(field, f"'{path}' is not a regular file")
    if not os.access(path, os.R_OK):
        raise VyroInputError(field, f"'{path}' cannot be read: permission denied")
    return st.st_size


def open_for_read(p: ObjectStoragePath, *, field: str, block_size: int | None = None) -> BinaryIO:
    """
    Open an input file for reading in binary mode.

    Reads are recorded as Airflow hook lineage, as with :meth:`ObjectStoragePath.open`. Remote
    filesystems read ahead by blocks (s3fs: 50 MiB by default); pass
    ``block_size=HEADER_BLOCK_SIZE`` when only the header will be read.

    :param p: the resolved path.
    :param field: the argument it was given as.
    :param block_size: the read-ahead block size for remote files; ``None`` for the default.
    :return: a seekable binary file; close it (or use it in a ``with`` block) when done.
    :raises VyroInputError: as :func:`stat_input`, for the same reasons.
    """
    path = _os_path(p)
    try:
        if path is not None:
            fileobj = open(path, "rb")  # noqa: SIM115 - the caller closes it
            record_lineage(p, output=False)
            return fileobj
        return cast("BinaryIO", p.open("rb", block_size=block_size))  # type: ignore[no-untyped-call]
    except Exception as exc:
        translated = _translate(exc, p, field=field, action="read")
        if translated is None:
            raise
        raise translated from exc


def exists(p: ObjectStoragePath) -> bool:
    """
    Tell whether something (a file, an object or a folder) exists at ``p``.

    :param p: the resolved path.
    """
    path = _os_path(p)
    if path is not None:
        return os.path.lexists(path)
    return bool(p.fs.exists(p.path))


def _is_denied(exc: BaseException) -> bool:
    return (
        isinstance(exc, PermissionError)
        or (_client_error_code(exc) or _client_error_code(exc.__cause__ or exc)) in _DENIED_CODES
    )


def probe_file(p: ObjectStoragePath) -> int | None:
    """
    Give the size of the file at ``p``, or ``None`` if there is none or it cannot be told.

    A probe that is denied (a role that may only put objects) answers ``None``: unknown is
    treated as absent, so the caller makes the call and the write's own error decides.

    :param p: the resolved path.
    """
    path = _os_path(p)
    if path is not None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None
    try:
        info = p.fs.info(p.path)
    except FileNotFoundError:
        return None
    except Exception as exc:
        if _is_denied(exc) or _client_error_code(exc) in _MISSING_CODES:
            return None
        raise
    if info.get("type") not in (None, "file"):
        return None
    return int(info.get("size") or 0)


def check_writable_destination(p: ObjectStoragePath, *, field: str) -> None:
    """
    Check, without creating anything, that a result can be written to ``p``.

    Locally: ``p`` is not a directory, and its nearest existing ancestor is a writable folder
    (missing folders below it are created at write time). Remotely: the path names an object
    and its bucket is not known to be missing (one ``HEAD`` request on S3). Writing needs only
    the right to put objects: a probe that is denied (``403``, as for a role allowed only
    ``s3:PutObject`` on a prefix) says nothing, so the write's own error decides.

    :param p: the resolved output path.
    :param field: the argument it was given as.
    :raises VyroInputError: if the result could not be written there.
    """
    shown = display(p)
    if not is_local(p):
        bucket = _bucket(p)
        if not p.path[len(bucket) :].strip("/"):
            raise VyroInputError(field, f"'{shown}' names a bucket, not an object")
        try:
            p.fs.info(bucket)
        except Exception as exc:
            if isinstance(exc, FileNotFoundError) or _client_error_code(exc) in _MISSING_CODES:
                raise VyroInputError(
                    field, f"'{shown}' cannot be written: the bucket '{bucket}' does not exist"
                ) from exc
            if _is_denied(exc):
                _log.debug("Cannot probe the bucket of %s (%s); the write will tell", shown, exc)
                return
            raise
        return

    target = os.path.abspath(p.path)
    if os.path.isdir(target):
        raise VyroInputError(field, f"'{shown}' is a directory, not a file")
    ancestor = os.path.dirname(target)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise VyroInputError(field, f"'{shown}' cannot be created: '{ancestor}' is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise VyroInputError(field, f"'{shown}' cannot be written: the folder '{ancestor}' is not writable")


__all__ = [
    "HEADER_BLOCK_SIZE",
    "LOCAL_SCHEMES",
    "OUTPUT_SUFFIX",
    "STALE_TEMP_AGE",
    "TEMP_PATTERN",
    "TEMP_PREFIX",
    "TempFiles",
    "atomic_writer",
    "check_output_path",
    "check_writable_destination",
    "default_output_path",
    "existing_folders",
    "exists",
    "fsync_directory",
    "is_supported_scheme",
    "local_folder",
    "local_location",
    "local_path",
    "location_key",
    "missing_folders",
    "open_for_read",
    "probe_file",
    "remove_empty_folders",
    "remove_stale_temp_files",
    "resolve",
    "same_file",
    "same_location",
    "stat_input",
    "supported_schemes",
    "temp_folder",
]
