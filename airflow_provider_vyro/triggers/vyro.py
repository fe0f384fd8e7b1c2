"""
The trigger a deferred video task waits on: it polls the job in the triggerer, not in a worker.

:class:`VyroJobTrigger` holds only what it needs to resume anywhere (connection id, job id,
status path, poll interval, deadline): a restarted triggerer rebuilds it from those and polls the
same job. Each status call runs the hook's own session in a thread (``asyncio.to_thread``), so
it has the hook's network policy, masking and retries; between calls the trigger sleeps without
holding anything. It yields exactly one event: the job's final state and its result URL (never
the token), a timeout, or the error no wait can fix.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_vyro.jobs import Poller


class VyroJobTrigger(BaseTrigger):
    """
    Poll a Vyro job until it ends or its deadline passes (see the module docstring).

    The event's payload: ``state`` (``succeeded``, ``failed``, ``timeout`` or ``error``),
    ``job_id``, ``url`` and ``thumbnail_url`` (succeeded), ``message``, and for ``error`` the
    error's class name (``error``) and HTTP status (``status_code``).

    :param vyro_conn_id: the :ref:`Vyro connection <howto/connection:vyro>`.
    :param job_id: the job.
    :param status_path: the status path with ``{id}``.
    :param poll_interval: seconds between status calls.
    :param deadline: the Unix time after which the wait ends.
    """

    def __init__(
        self,
        *,
        vyro_conn_id: str,
        job_id: str,
        status_path: str,
        poll_interval: float,
        deadline: float,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.vyro_conn_id = vyro_conn_id
        self.job_id = job_id
        self.status_path = status_path
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Give the class path and the arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "vyro_conn_id": self.vyro_conn_id,
                "job_id": self.job_id,
                "status_path": self.status_path,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    def _poller(self) -> Poller:
        from airflow_provider_vyro.hooks.vyro import VyroHook
        from airflow_provider_vyro.jobs import Poller

        hook = VyroHook(vyro_conn_id=self.vyro_conn_id)
        hook.validate()
        return Poller(
            hook,
            self.job_id,
            status_path=self.status_path,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            log=self.log,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the job ends, then yield its one event."""
        from airflow_provider_vyro.exceptions import VyroError, VyroJobTimeoutError

        poller: Poller | None = None
        try:
            poller = await asyncio.to_thread(self._poller)
            while True:
                status, delay = await asyncio.to_thread(poller.step)
                if status is not None:
                    yield _event(
                        {
                            "state": status.state,
                            "job_id": self.job_id,
                            "url": status.urls[0] if status.urls else None,
                            "thumbnail_url": status.thumbnail_url,
                            "message": status.message,
                            "polls": poller.polls,
                        }
                    )
                    return
                await asyncio.sleep(delay)
        except VyroJobTimeoutError as error:
            yield _event(
                {"state": "timeout", "job_id": self.job_id, "waited": error.waited, "message": str(error)}
            )
        except VyroError as error:
            yield _event(
                {
                    "state": "error",
                    "job_id": self.job_id,
                    "error": type(error).__name__,
                    "status_code": getattr(error, "status_code", None),
                    "message": str(error),
                }
            )
        finally:
            if poller is not None:
                poller.hook.cancel()
                poller.hook.close()


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


__all__ = ["VyroJobTrigger"]
