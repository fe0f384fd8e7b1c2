"""
Processes of one end-to-end run: start them logged to files, wait for them, stop all of them.

Every service runs in its own session (process group), with its output in a log file of the
scratch directory. Stopping sends SIGTERM to the group and to every descendant found at that
moment (a task process that left the group is still a descendant), waits, then SIGKILLs what is
left. Services also get SIGTERM if the driver dies without cleaning up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psutil

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
STOP_GRACE = 20.0
"""Seconds between SIGTERM and SIGKILL when stopping services."""


class ServiceError(RuntimeError):
    """A service exited early or did not become ready in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to send SIGTERM to this child when the driver exits."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def tail(path: Path, lines: int = 60) -> str:
    """Return the last ``lines`` lines of a text file (empty if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Service:
    """
    One long-running process of the run.

    :param name: a short label, used for the log file and in messages.
    :param argv: the command.
    :param env: its whole environment.
    :param log: file receiving its stdout and stderr.
    :param cwd: its working directory.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stopped: bool = False

    def start(self) -> Service:
        """Start the process in a new session, output appended to :attr:`log`."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the driver starts no threads
            )
        return self

    @property
    def pid(self) -> int:
        """The process id (the process group id too)."""
        if self.process is None:
            raise ServiceError(f"{self.name} was not started")
        return self.process.pid

    def check_alive(self) -> None:
        """Raise :class:`ServiceError` with the log's tail if the process has exited (unless stopped)."""
        if not self.stopped and self.process is not None and (code := self.process.poll()) is not None:
            raise ServiceError(f"{self.name} exited with status {code}; log {self.log}:\n{tail(self.log)}")

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until a line of the log matches ``pattern``; return the match."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            return regex.search(text)

        return wait_until(f"{self.name}: log line /{pattern}/", found, timeout, services=[self])


def wait_until(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.5,
    services: Iterable[Service] = (),
) -> T:
    """
    Call ``check`` until it returns something other than ``None`` or ``False``, and return that.

    Exceptions of type ``OSError`` (which covers refused connections) count as "not yet". Fails
    early with the log's tail if one of ``services`` exits meanwhile.

    :raises ServiceError: after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    watched = list(services)
    last_error: BaseException | None = None
    while True:
        for service in watched:
            service.check_alive()
        try:
            result = check()
        except OSError as exc:  # requests' errors are OSErrors too
            last_error, result = exc, None
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise ServiceError(f"{what}: not reached within {timeout:.0f}s{detail}")
        time.sleep(interval)


def _members(service: Service) -> list[psutil.Process]:
    """Return the service's process, its descendants, and anything else in its process group."""
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(service.pid)
        found[root.pid] = root
        found.update({child.pid: child for child in root.children(recursive=True)})
    except psutil.Error:
        pass
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == service.pid:
                found[process.pid] = process
    return list(found.values())


class Stack:
    """
    The services of one run, stopped together (in reverse start order) on exit.

    :param scratch: directory for the services' logs (``<scratch>/logs/<name>.log``).
    """

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.services: list[Service] = []
        self._stopped: set[str] = set()

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> Service:
        """Start and register a service; its log is ``<scratch>/logs/<name>.log``."""
        service = Service(name, argv, env, self.scratch / "logs" / f"{name}.log", cwd or self.scratch)
        self.services.append(service)
        return service.start()

    def check_alive(self) -> None:
        """Raise :class:`ServiceError` if any service has exited."""
        for service in self.services:
            service.check_alive()

    def stop_all(self, grace: float = STOP_GRACE) -> list[str]:
        """
        Stop every service and everything it started; return a note per service that needed SIGKILL.

        SIGTERM goes to all of them at once (process group and descendants), then, after at most
        ``grace`` seconds, SIGKILL to whatever is still there.
        """
        return self._stop(
            [s for s in reversed(self.services) if s.process is not None and s.name not in self._stopped],
            grace,
        )

    def stop(self, name: str, grace: float = STOP_GRACE) -> list[str]:
        """Stop one service and everything it started, as :meth:`stop_all` does; return its notes."""
        return self._stop(
            [
                s
                for s in self.services
                if s.name == name and s.process is not None and s.name not in self._stopped
            ],
            grace,
        )

    def _stop(self, started: list[Service], grace: float) -> list[str]:
        self._stopped.update(s.name for s in started)
        for service in started:
            service.stopped = True
        victims: dict[str, list[psutil.Process]] = {s.name: _members(s) for s in started}
        for service in started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.pid, signal.SIGTERM)
            for process in victims[service.name]:
                with contextlib.suppress(psutil.Error):
                    process.terminate()
        everyone = [p for group in victims.values() for p in group]
        _, alive = psutil.wait_procs(everyone, timeout=grace)
        notes = []
        if alive:
            for service in started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(service.pid, signal.SIGKILL)
            for process in alive:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(alive, timeout=5)
            stubborn = {p.pid for p in alive}
            notes = [
                f"{name}: SIGKILL after {grace:.0f}s"
                for name, group in victims.items()
                if any(p.pid in stubborn for p in group)
            ]
        for service in started:
            assert service.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=5)
        return notes

    def log_tails(self, lines: int = 60) -> str:
        """Return the tail of every service's log, for a failure report."""
        parts = [f"----- {s.name} ({s.log}) -----\n{tail(s.log, lines)}" for s in self.services]
        return "\n".join(parts)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


POSTGRES_BINARIES = "/usr/lib/postgresql/*/bin"
"""Where Debian's ``postgresql`` package puts its server programs, one directory per major version."""


def debian_postgres_bin() -> Path:
    """
    Return the newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``.

    :raises ServiceError: when Debian's package is not installed.
    """
    found = [
        bin_dir
        for bin_dir in Path("/").glob(POSTGRES_BINARIES.lstrip("/"))
        if (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file()
    ]
    if not found:
        raise ServiceError(
            f"PostgreSQL is not installed under {POSTGRES_BINARIES} "
            "(make e2e-celery installs it: apt-get install postgresql)"
        )
    return max(found, key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0)


class Postgres:
    """
    A PostgreSQL server of Debian's package for one run, holding Airflow's metadata.

    Each run gets a fresh database cluster (``initdb`` into ``<scratch>/postgres``), served on
    127.0.0.1 only, on a free port, with no Unix socket, a random password for its one role,
    and durability switched off (the cluster dies with the run). PostgreSQL refuses to run as
    root, so under root the server runs as the ``postgres`` user the package creates, through
    ``runuser`` (which passes the stop signal on to it).

    :param stack: the run's services; the server becomes the service ``postgres``.
    :param user: the system user the server runs as when this process is root.
    """

    ROLE = "airflow"
    DATABASE = "airflow"
    READY_TIMEOUT = 60.0

    def __init__(self, stack: Stack, user: str = "postgres") -> None:
        self.stack = stack
        self.user = user
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.bin = debian_postgres_bin()
        self.home = stack.scratch / "postgres"
        self.service: Service | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the run's database, with the psycopg2 driver Airflow recommends."""
        return f"postgresql+psycopg2://{self.ROLE}:{self.password}@127.0.0.1:{self.port}/{self.DATABASE}"

    def start(self, env: Mapping[str, str]) -> str:
        """Create the cluster, start the server, create the database; return :attr:`url`."""
        self.home.mkdir(parents=True, exist_ok=True)
        as_user = self._prepare_home()
        password_file = self.home / "password"
        password_file.write_text(self.password)
        self._chown(password_file)
        password_file.chmod(0o600)
        data = self.home / "data"
        initdb = [str(self.bin / "initdb"), "-D", str(data), "-U", self.ROLE, "-E", "UTF8", "--no-locale",
                  "--auth", "scram-sha-256", "--pwfile", str(password_file), "--no-sync"]  # fmt: skip
        log = self.stack.scratch / "logs" / "postgres-initdb.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            result = subprocess.run(
                [*as_user, *initdb], env=dict(env), cwd=self.home, stdout=out, stderr=subprocess.STDOUT,
                timeout=120, check=False,
            )  # fmt: skip
        password_file.unlink()
        if result.returncode != 0:
            raise ServiceError(f"initdb failed ({result.returncode}):\n{tail(log)}")
        server = [str(self.bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                  "-k", "", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                  "-c", "max_connections=200"]  # fmt: skip
        self.service = self.stack.start("postgres", [*as_user, *server], env, cwd=self.home)
        self.service.wait_for_log(r"database system is ready to accept connections", self.READY_TIMEOUT)
        createdb = [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.ROLE,
                    self.DATABASE]  # fmt: skip
        result = subprocess.run(
            createdb, env={**env, "PGPASSWORD": self.password}, capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise ServiceError(
                f"createdb failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
            )
        return self.url

    def _prepare_home(self) -> list[str]:
        """Hand the cluster's directory to :attr:`user` when root; return the command prefix to run as it."""
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ServiceError(
                "runuser is missing: PostgreSQL cannot run as root and needs it to drop to a user"
            )
        scratch = self.stack.scratch
        scratch.chmod(stat.S_IMODE(scratch.stat().st_mode) | stat.S_IXOTH)  # traversable, not listable
        self._chown(self.home)
        self.home.chmod(0o700)
        return [runuser, "-u", self.user, "--"]

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise ServiceError(f"no user {self.user!r} to run PostgreSQL as") from None
            os.chown(path, entry.pw_uid, entry.pw_gid)
