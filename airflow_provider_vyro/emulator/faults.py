"""Fault knobs of the emulator: what to break, how often, and in which order.

A fault is written in a small JSON-friendly grammar, the same on the command line, in the
``POST /_emulator/faults`` body and in ``EmulatorServer(**knobs)``:

* an int HTTP status (``500``, ``503``, ``429``, ``402``, ...): answer with that status and
  the JSON error body;
* ``{"status": 429, "retry_after": 1.5}``: the same, with a ``Retry-After`` header;
* ``{"status": 400, "code": 1000}``: the same, with that ``code`` in the body (by default a v2
  path gives its reference's code for the status, v1 the status itself);
* ``{"redirect": 307, "location": "https://elsewhere.example/"}``: answer with that 3xx status
  and ``Location`` (default ``https://moved.invalid/``), as a misconfigured proxy or a moved
  host would;
* ``"drop"``: close the TCP connection without any response;
* ``"truncate"``: announce the full ``Content-Length`` but send only part of the body;
* ``"json200"`` / ``"html200"`` / ``"garbage200"``: a 200 whose body is JSON, HTML, or bytes
  that are not a PNG although labelled ``image/png``;
* ``"badcrc200"`` / ``"undecodable200"``: a 200 whose body is a PNG from signature to ``IEND``
  that is nonetheless corrupt: a byte of its image data changed (that chunk's CRC no longer
  matches), or image data that is not a zlib stream (every CRC right);
* ``{"sleep": 5}``: wait that many seconds, then answer normally;
* ``"ok"``: answer normally.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

FaultKind = Literal[
    "status",
    "redirect",
    "drop",
    "truncate",
    "json200",
    "html200",
    "garbage200",
    "badcrc200",
    "undecodable200",
    "sleep",
    "ok",
]
DEFAULT_REDIRECT_LOCATION = "https://moved.invalid/"

_NAMED_KINDS: frozenset[str] = frozenset(
    {"drop", "truncate", "json200", "html200", "garbage200", "badcrc200", "undecodable200", "ok"}
)
_KNOB_NAMES: frozenset[str] = frozenset(
    {"latency", "script", "random_faults", "retry_after", "answer_format", "quota"}
)
ANSWER_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")
"""Formats the ``answer_format`` knob can choose."""


def _number(value: object, what: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not number >= minimum:
        raise ValueError(f"{what} must be >= {minimum:g}, got {value!r}")
    return number


def _status(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a fault status must be an int, got {value!r}")
    try:
        status = int(value)
    except ValueError:
        raise ValueError(f"unknown fault {value!r}") from None
    if not 400 <= status <= 599:
        raise ValueError(f"a fault status must be a 4xx or 5xx code, got {status}")
    return status


def _redirect_status(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"a redirect status must be an int, got {value!r}")
    status = int(value)
    if not 300 <= status <= 399:
        raise ValueError(f"a redirect status must be a 3xx code, got {status}")
    return status


def _format(value: object) -> str:
    fmt = value.strip().upper() if isinstance(value, str) else None
    fmt = "JPEG" if fmt == "JPG" else fmt
    if fmt not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {value!r}")
    return fmt


def _quota(value: object) -> tuple[int, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"limit", "window"}:
        raise ValueError(f"quota must be null or {{'limit': N, 'window': seconds}}, got {value!r}")
    limit = value["limit"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"quota.limit must be a whole number >= 1, got {limit!r}")
    return limit, _number(value["window"], "quota.window", minimum=0.001)


def _answer_format(value: object) -> str | tuple[tuple[str, str], ...]:
    if value is None:
        return "PNG"
    if isinstance(value, Mapping):
        return tuple(sorted((str(operation), _format(fmt)) for operation, fmt in value.items()))
    return _format(value)


@dataclass(frozen=True)
class Fault:
    """One fault to inject into one inpaint request."""

    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    seconds: float = 0.0
    code: int | str | None = None
    location: str | None = None

    @classmethod
    def parse(cls, item: object) -> Fault:
        """Build a fault from its JSON-friendly form (see the module docstring)."""
        if isinstance(item, Fault):
            return item
        if isinstance(item, str) and item.strip().lower() in _NAMED_KINDS:
            return cls(kind=cast("FaultKind", item.strip().lower()))
        if isinstance(item, int | str):
            return cls(kind="status", status=_status(item))
        if isinstance(item, Mapping):
            keys = set(item)
            if keys == {"sleep"}:
                return cls(kind="sleep", seconds=_number(item["sleep"], "sleep"))
            if "status" in keys and keys <= {"status", "retry_after", "code"}:
                retry_after = item.get("retry_after")
                code = item.get("code")
                if code is not None and (isinstance(code, bool) or not isinstance(code, int | str)):
                    raise ValueError(f"a fault code must be an int or a string, got {code!r}")
                return cls(
                    kind="status",
                    status=_status(item["status"]),
                    retry_after=None if retry_after is None else _number(retry_after, "retry_after"),
                    code=code,
                )
            if "redirect" in keys and keys <= {"redirect", "location"}:
                location = item.get("location", DEFAULT_REDIRECT_LOCATION)
                if not isinstance(location, str) or not location:
                    raise ValueError(f"a redirect location must be a non-empty string, got {location!r}")
                return cls(kind="redirect", status=_redirect_status(item["redirect"]), location=location)
        raise ValueError(f"unknown fault {item!r}")

    @property
    def label(self) -> str:
        """Name this fault is counted under in the stats (``"500"``, ``"drop"``, ...)."""
        return str(self.status) if self.kind in ("status", "redirect") else self.kind

    def to_json(self) -> object:
        """Return the JSON-friendly form that :meth:`parse` reads back."""
        if self.kind == "sleep":
            return {"sleep": self.seconds}
        if self.kind == "redirect":
            return {"redirect": self.status, "location": self.location}
        if self.kind == "status":
            extra: dict[str, object] = {}
            if self.retry_after is not None:
                extra["retry_after"] = self.retry_after
            if self.code is not None:
                extra["code"] = self.code
            return {"status": self.status, **extra} if extra else self.status
        return self.kind


@dataclass(frozen=True)
class RandomFaults:
    """Inject one of ``kinds`` into each unscripted request with probability ``rate``."""

    rate: float
    kinds: tuple[Fault, ...]
    seed: int | None = None

    @classmethod
    def parse(cls, data: object) -> RandomFaults:
        """Build from ``{"rate": 0.1, "kinds": ["drop", 500], "seed": 1}``."""
        if not isinstance(data, Mapping) or not set(data) <= {"rate", "kinds", "seed"}:
            raise ValueError(f"random_faults must be an object with rate, kinds, seed; got {data!r}")
        rate = _number(data.get("rate", 0.0), "random_faults.rate")
        if rate > 1:
            raise ValueError(f"random_faults.rate must be <= 1, got {rate}")
        kinds = data.get("kinds", ())
        if isinstance(kinds, str | bytes) or not isinstance(kinds, Sequence):
            raise ValueError(f"random_faults.kinds must be a list, got {kinds!r}")
        parsed = tuple(Fault.parse(kind) for kind in kinds)
        if rate > 0 and not parsed:
            raise ValueError("random_faults.kinds must not be empty when rate > 0")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"random_faults.seed must be an int, got {seed!r}")
        return cls(rate=rate, kinds=parsed, seed=seed)

    def to_json(self) -> dict[str, object]:
        """Return the JSON-friendly form that :meth:`parse` reads back."""
        return {"rate": self.rate, "kinds": [kind.to_json() for kind in self.kinds], "seed": self.seed}


@dataclass(frozen=True)
class FaultConfig:
    """All fault knobs.

    ``latency`` is added before every answer; ``script`` is consumed one item per API
    request, first in first out; requests the script does not cover may get a
    ``random_faults`` fault; ``retry_after`` is the ``Retry-After`` sent with a 429 that does
    not carry its own. ``answer_format`` is not a fault: the image format of successful
    answers, ``"PNG"`` (the default), ``"JPEG"`` or ``"WEBP"``, for every operation, or a map
    from operation name (``"text_to_image"``, ...) to format for some.
    """

    latency: float = 0.0
    script: tuple[Fault, ...] = ()
    random_faults: RandomFaults | None = None
    retry_after: float | None = None
    answer_format: str | tuple[tuple[str, str], ...] = "PNG"
    quota: tuple[int, float] | None = None

    def answer_format_of(self, operation: str) -> str:
        """Return the format an operation answers in."""
        if isinstance(self.answer_format, str):
            return self.answer_format
        return dict(self.answer_format).get(operation, "PNG")

    @classmethod
    def from_dict(cls, knobs: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON-friendly knobs; absent knobs keep their defaults."""
        return cls().updated(knobs)

    def updated(self, knobs: Mapping[str, Any]) -> FaultConfig:
        """Return a copy with the given knobs replaced (the others are kept)."""
        unknown = set(knobs) - _KNOB_NAMES
        if unknown:
            raise ValueError(f"unknown fault knobs {sorted(unknown)}; known: {sorted(_KNOB_NAMES)}")
        changes: dict[str, Any] = {}
        if "latency" in knobs:
            changes["latency"] = _number(knobs["latency"] or 0, "latency")
        if "script" in knobs:
            script = knobs["script"] or ()
            if isinstance(script, str | bytes) or not isinstance(script, Sequence):
                raise ValueError(f"script must be a list, got {script!r}")
            changes["script"] = tuple(Fault.parse(item) for item in script)
        if "random_faults" in knobs:
            spec = knobs["random_faults"]
            changes["random_faults"] = spec if spec is None else RandomFaults.parse(spec)
        if "retry_after" in knobs:
            value = knobs["retry_after"]
            changes["retry_after"] = None if value is None else _number(value, "retry_after")
        if "answer_format" in knobs:
            changes["answer_format"] = _answer_format(knobs["answer_format"])
        if "quota" in knobs:
            changes["quota"] = _quota(knobs["quota"])
        return replace(self, **changes)

    def to_json(self) -> dict[str, object]:
        """Return the JSON-friendly form that :meth:`from_dict` reads back."""
        return {
            "latency": self.latency,
            "script": [fault.to_json() for fault in self.script],
            "random_faults": None if self.random_faults is None else self.random_faults.to_json(),
            "retry_after": self.retry_after,
            "answer_format": (
                self.answer_format if isinstance(self.answer_format, str) else dict(self.answer_format)
            ),
            "quota": None if self.quota is None else {"limit": self.quota[0], "window": self.quota[1]},
        }


@dataclass
class FaultInjector:
    """Thread-safe owner of the live fault configuration and of the random generator."""

    config: FaultConfig = field(default_factory=FaultConfig)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    _window: tuple[float, int] = field(init=False, repr=False, default=(0.0, 0))

    def __post_init__(self) -> None:
        self._rng = self._new_rng(self.config)

    def take_quota(self, now: float) -> tuple[bool, dict[str, str]] | None:
        """
        Take one request from the ``quota`` window: whether it is allowed, and the rate-limit headers.

        ``None`` when no quota is set. The window starts with its first request and lasts
        ``window`` seconds; ``x-ratelimit-reset`` is the whole seconds until it ends.
        """
        with self._lock:
            if self.config.quota is None:
                return None
            limit, window = self.config.quota
            started, used = self._window
            if now >= started + window:
                started, used = now, 0
            allowed = used < limit
            used += allowed
            self._window = (started, used)
            reset = max(1, math.ceil(started + window - now))
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(limit - used),
                "x-ratelimit-reset": str(reset),
            }
            return allowed, headers

    @staticmethod
    def _new_rng(config: FaultConfig) -> random.Random:
        return random.Random(None if config.random_faults is None else config.random_faults.seed)

    def snapshot(self) -> FaultConfig:
        """Return the current configuration, with what is left of the script."""
        with self._lock:
            return self.config

    def configure(self, knobs: Mapping[str, Any]) -> FaultConfig:
        """Replace the given knobs; setting ``random_faults`` restarts its random sequence."""
        with self._lock:
            self.config = self.config.updated(knobs)
            if "random_faults" in knobs:
                self._rng = self._new_rng(self.config)
            return self.config

    def reset(self, config: FaultConfig | None = None) -> None:
        """Drop every fault (or install ``config``)."""
        with self._lock:
            self.config = config or FaultConfig()
            self._rng = self._new_rng(self.config)
            self._window = (0.0, 0)

    def next_fault(self) -> Fault | None:
        """Return the fault for the next inpaint request, consuming the script first."""
        with self._lock:
            if self.config.script:
                fault, *rest = self.config.script
                self.config = replace(self.config, script=tuple(rest))
                return fault
            chance = self.config.random_faults
            if chance is None or chance.rate <= 0 or not chance.kinds:
                return None
            if self._rng.random() >= chance.rate:
                return None
            return self._rng.choice(chance.kinds)
