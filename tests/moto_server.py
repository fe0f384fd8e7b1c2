"""
A real S3 endpoint on loopback for tests: moto's threaded server, reached over HTTP.

How Airflow 3.3 reaches it (worked out against apache-airflow-task-sdk 1.3 and
apache-airflow-providers-amazon 9.x):

* The connection comes from the environment: ``AIRFLOW_CONN_<CONN_ID upper-cased>`` holding the
  JSON form of a connection::

      {"conn_type": "aws", "login": "testing", "password": "testing",
       "extra": {"endpoint_url": "http://127.0.0.1:PORT", "region_name": "us-east-1"}}

  ``login``/``password`` become the access key id and secret; ``extra.endpoint_url`` is what the
  amazon provider's ``s3`` filesystem (``airflow.providers.amazon.aws.fs.s3.get_fs``) hands to
  ``s3fs.S3FileSystem``. Without credentials the provider silently falls back to *anonymous*
  access, and an unknown conn id only logs a warning and falls back to boto3's default chain, so
  a typo in the conn id does not fail by itself.
* ``ObjectStoragePath("s3://bucket/key", conn_id=ID)`` builds the filesystem through
  ``airflow.sdk.io.attach("s3", ID)``, which caches one store per ``"s3-<ID>"`` in a module-level
  dict for the life of the process, and never re-reads the connection. A second server (new port)
  under the same conn id would therefore still be sent to the first one: :class:`MotoS3Server`
  gives every server its own conn id (``moto_s3_<port>``) and :meth:`MotoS3Server.stop` drops the
  cached store.
* ``str()`` of such a path is ``s3://ID@bucket/key`` (the conn id rides in the URI's userinfo);
  ``.path`` is ``bucket/key``.
* moto keeps its backends in process-global state, so every server in one process sees the same
  buckets: the server is reset (``POST /moto-api/reset``) when it starts and stops.
* moto accepts any credentials unless told otherwise; :meth:`MotoS3Server.enforce_auth` turns its
  IAM check on (``POST /moto-api/reset-auth`` with body ``0``, sent as ``text/plain``: a form
  content type leaves the body empty and moto answers 500), so S3 answers 403 and s3fs raises
  ``PermissionError``.
* Bucket names must be valid S3 names (3 to 63 characters), or moto answers ``InvalidBucketName``.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from moto.server import ThreadedMotoServer

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def aws_conn_env(endpoint_url: str, *, region: str = REGION) -> str:
    """
    The value of an ``AIRFLOW_CONN_<ID>`` variable for an aws connection to ``endpoint_url``.

    :param endpoint_url: the S3 endpoint, e.g. ``http://127.0.0.1:5000``.
    :param region: the region the client signs for.
    """
    return json.dumps(
        {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": endpoint_url, "region_name": region},
        }
    )


def conn_env_var(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class MotoS3Server:
    """
    moto's S3 server on ``127.0.0.1`` (a free port), with an Airflow aws connection pointing at it.

    Use as a context manager::

        with MotoS3Server() as s3:
            s3.client().create_bucket(Bucket="b")
            path = ObjectStoragePath("s3://b/k.png", conn_id=s3.conn_id)

    While started, ``AIRFLOW_CONN_<conn_id>`` is set in ``os.environ`` (and restored on stop).

    :param conn_id: the Airflow connection id to register; default ``moto_s3_<port>``.
    """

    def __init__(self, conn_id: str | None = None) -> None:
        self._requested_conn_id = conn_id
        self._server: ThreadedMotoServer | None = None
        self._saved_env: str | None = None
        self.endpoint_url = ""
        self.conn_id = ""

    def start(self) -> MotoS3Server:
        """Start the server and register the connection."""
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._server = server
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.conn_id = self._requested_conn_id or f"moto_s3_{port}"
        var = conn_env_var(self.conn_id)
        self._saved_env = os.environ.get(var)
        os.environ[var] = aws_conn_env(self.endpoint_url)
        self.reset()
        return self

    def stop(self) -> None:
        """Stop the server, unregister the connection and drop Airflow's cached filesystem."""
        if self._server is None:
            return
        self.reset()
        self._server.stop()
        self._server = None
        var = conn_env_var(self.conn_id)
        if self._saved_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = self._saved_env
        forget_cached_store("s3", self.conn_id)

    def reset(self) -> None:
        """Forget every bucket and object (moto's state is process-global)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    @contextlib.contextmanager
    def enforce_auth(self) -> Iterator[None]:
        """
        Make the server check credentials, inside the block.

        The connection's ``testing`` keys are unknown to moto's IAM, so every S3 request is
        answered 403. moto holds this switch in process-global state; it is restored on exit.
        """
        self._set_auth_after(b"0")
        try:
            yield
        finally:
            self._set_auth_after(b"inf")

    def _set_auth_after(self, count: bytes) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset-auth",
            data=count,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forget_cached_store(protocol: str, conn_id: str) -> None:
    """
    Drop the filesystem Airflow cached for ``protocol`` and ``conn_id``.

    ``airflow.sdk.io.store.attach`` keeps one store per ``"<protocol>-<conn_id>"`` for the life of
    the process; there is no public API to forget one, so this reaches into that module's cache.
    """
    try:
        from airflow.sdk.io import store
    except ImportError:  # Airflow 2
        from airflow.io import store  # type: ignore[no-redef]

    store._STORE_CACHE.pop(f"{protocol}-{conn_id}", None)
