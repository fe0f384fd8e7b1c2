"""
Operators that make videos with Vyro's Imagine API: jobs that run for minutes (v2 video).

A video task checks every argument, submits the job once (recorded beside the output, so a
retry polls the same job and never pays again), then waits: deferred to the triggerer
(:class:`~airflow_provider_vyro.triggers.vyro.VyroJobTrigger`), which frees the worker slot, or
polling in the worker. When the job is done the worker fetches the MP4 from the storage host
without the token, checks it is complete and writes it atomically. See :doc:`/video`.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import conf

from airflow_provider_vyro import assets
from airflow_provider_vyro.catalogue import IMAGE_TO_VIDEO, TEXT_TO_VIDEO, Endpoint
from airflow_provider_vyro.operators.base import (
    VyroBaseOperator,
    keys_as_xcoms,
    push_each_key,
    refuse_xcomargs,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_vyro.jobs import VideoJob

DEFAULT_POLL_INTERVAL = 30.0
"""Seconds between two status calls, unless ``poll_interval`` says otherwise."""

DEFAULT_JOB_TIMEOUT = 3600.0
"""Seconds a try waits for its job, unless ``job_timeout`` says otherwise."""


class VideoRun(VyroBaseOperator):
    """
    Run one video job from a task: submit once, defer (or poll here), fetch the MP4 (see :doc:`/video`).

    The base of :class:`VyroVideoOperator` and of ``@task.vyro`` for the video operations. A
    subclass says what to run (:meth:`video_arguments`) and sets :attr:`deferrable`,
    :attr:`poll_interval` and :attr:`job_timeout`.
    """

    deferrable: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    push_keys: bool = False
    """Push each key of the dict that has a value as its own XCom (where ``multiple_outputs`` cannot)."""
    _job: VideoJob | None = None

    def video_arguments(self, context: Context) -> tuple[dict[str, Any], str | None]:
        """Give the job's arguments (text fields, ``image_path``, ``output_path``) and the thumbnail path."""
        raise NotImplementedError

    def _video_job(self, context: Context) -> VideoJob:
        from airflow_provider_vyro.credits import price_within
        from airflow_provider_vyro.hooks.vyro import VyroHook
        from airflow_provider_vyro.jobs import VideoJob, prepare
        from airflow_provider_vyro.ledger import RunKey

        values, thumbnail_path = self.video_arguments(context)
        request = prepare(
            self.call_endpoint(),
            values,
            storage_conn_id=self.storage_conn_id or None,
            thumbnail_path=thumbnail_path,
        )
        try_number = getattr(context.get("ti"), "try_number", None)
        hook = VyroHook(vyro_conn_id=self.vyro_conn_id)
        costs = hook.validate().credit_costs
        self._job = VideoJob(
            request,
            hook,
            RunKey.from_context(context),
            self.log,
            try_number=try_number if isinstance(try_number, int) else 1,
            cost=price_within(self.max_credits, request.endpoint, request.fields, costs),
        )
        return self._job

    def start_video(self, context: Context) -> dict[str, Any]:
        """Check the arguments, submit the job once, and wait for it (deferred, or here)."""
        from airflow_provider_vyro.jobs import load_inputs

        job = self._video_job(context)
        with self._ended(job):
            files = load_inputs(job.request)
            if (earlier := job.written_earlier()) is not None:
                return self._done(context, earlier, announce=True)
            if not self.overwrite and (kept := job.existing()) is not None:
                self.log.info("Kept %s (no call)", job.request.output_path)
                return self._done(context, kept)
            job_id = job.submit_once(files)
            deadline = time.time() + self.job_timeout
            if self.deferrable:
                from airflow_provider_vyro.triggers.vyro import VyroJobTrigger

                self.log.info(
                    "Deferring: job %s is polled by the triggerer every %g s", job_id, self.poll_interval
                )
                self.defer(
                    trigger=VyroJobTrigger(
                        vyro_conn_id=self.vyro_conn_id,
                        job_id=job_id,
                        status_path=job.hook.job_status_path,
                        poll_interval=self.poll_interval,
                        deadline=deadline,
                    ),
                    method_name="execute_complete",
                )
            status = job.wait(job_id, poll_interval=self.poll_interval, deadline=deadline)
            return self._done(context, job.finish(status))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """
        Resume after the trigger's event: fetch the result, or raise the event's error.

        :param context: the task's context.
        :param event: the payload of :class:`~airflow_provider_vyro.triggers.vyro.VyroJobTrigger`.
        """
        from airflow_provider_vyro.hooks.job_status import JobStatus
        from airflow_provider_vyro.jobs import raise_from_event

        job = self._video_job(context)
        job.resume()
        with self._ended(job):
            if event.get("state") != "succeeded":
                if event.get("state") == "failed":
                    job.record.remove()
                raise_from_event(event)
            self.log.info(
                "Job %s succeeded (%s polls in the triggerer)", event.get("job_id"), event.get("polls")
            )
            status = JobStatus(
                str(event["job_id"]),
                "succeeded",
                "success",
                urls=(str(event["url"]),),
                thumbnail_url=event.get("thumbnail_url"),
            )
            return self._done(context, job.finish(status))

    @contextlib.contextmanager
    def _ended(self, job: VideoJob) -> Iterator[None]:
        """Count the item failed in the metrics if anything but a deferral ends the job; close the hook."""
        from airflow.providers.common.compat.sdk import TaskDeferred

        from airflow_provider_vyro import metrics

        try:
            yield
        except TaskDeferred:
            raise
        except BaseException:
            metrics.run_done(job.request.endpoint.operation, 0, {"failed": 1})
            raise
        finally:
            job.hook.close()

    def _done(self, context: Context, result: dict[str, Any], *, announce: bool = False) -> dict[str, Any]:
        from airflow_provider_vyro import metrics

        metrics.run_done(result["operation"], 0, {"kept" if result["skipped"] else "written": 1})
        if self.push_keys:
            push_each_key(context, result)
        self._vyro_results = [result]
        assets.emit(
            context,
            self.asset_alias,
            self._vyro_results,
            storage_conn_id=self.storage_conn_id,
            announced=(lambda _: True) if announce else assets.was_written,
        )
        return result

    def on_kill(self) -> None:
        """Stop the wait at once (the job keeps running on the API's side; a retry polls it)."""
        if self._job is not None:
            self._job.cancel()
        super().on_kill()


class VyroVideoOperator(VideoRun):
    """
    Base of the video operators: submit once, wait (deferred or not), fetch the MP4.

    The return value is a dict with ``output_path``, ``prompt``, ``style``, ``aspect_ratio``,
    ``thumbnail_path``, ``job_id``, ``width``, ``height`` (read from the MP4; ``None`` if it
    does not say), ``bytes``, ``sha256``, ``skipped``, ``operation``, ``api_version`` (``v2``),
    ``format`` (``MP4``), ``attempts`` (submits this try sent: 0 when it polled the job an
    earlier try submitted), ``credits`` (``None``: the cost is not documented; ``0`` when kept)
    and ``try_number``; each key is also pushed as its own XCom.

    :param prompt: what the video shows. (templated)
    :param output_path: where to write the video, ending in ``.mp4``: a local path, ``file://``
        URI or object-storage URI. (templated)
    :param style: the model, e.g. ``kling-1.0-pro`` (the default; the API publishes no list). (templated)
    :param aspect_ratio: ``16:9`` (default), ``9:16`` or ``1:1``. (templated)
    :param thumbnail_path: where to save the thumbnail when the API gives one (``.jpg``,
        ``.png`` or ``.webp``); ``None``: not saved. (templated)
    :param deferrable: wait in the triggerer instead of the worker; default: Airflow's
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between two status calls, at least 1.
    :param job_timeout: seconds one try waits for the job (more than 0); past it the try fails
        with :class:`~airflow_provider_vyro.exceptions.VyroJobTimeoutError` and a retry polls
        the same job, waiting anew.
    :param vyro_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param storage_conn_id: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`. (templated)
    :param overwrite: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param asset_alias: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param endpoint: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    :param extra_fields: see :class:`~airflow_provider_vyro.operators.base.VyroBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "prompt",
        "output_path",
        "style",
        "aspect_ratio",
        "thumbnail_path",
        "storage_conn_id",
    )
    ui_color = "#f4e0d8"

    def __init__(
        self,
        *,
        prompt: str,
        output_path: str,
        style: str | None = None,
        aspect_ratio: str | None = None,
        thumbnail_path: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_vyro.jobs import check_polling

        push_keys = keys_as_xcoms(kwargs)
        refuse_xcomargs(
            type(self).__name__, deferrable=deferrable, poll_interval=poll_interval, job_timeout=job_timeout
        )
        super().__init__(**kwargs)
        self.push_keys = push_keys
        self.poll_interval, self.job_timeout = check_polling(poll_interval, job_timeout)
        self.prompt = prompt
        self.output_path = output_path
        self.style = style
        self.aspect_ratio = aspect_ratio
        self.thumbnail_path = thumbnail_path
        self.deferrable = bool(deferrable)

    def values(self) -> dict[str, Any]:
        """Give the job's arguments from the operator's (rendered) arguments."""
        return {
            "prompt": self.prompt,
            "style": self.style,
            "aspect_ratio": self.aspect_ratio,
            "output_path": self.output_path,
        }

    def video_arguments(self, context: Context) -> tuple[dict[str, Any], str | None]:
        """Give :meth:`values` and ``thumbnail_path``."""
        return self.values(), self.thumbnail_path

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the arguments, submit the job once, and wait for it (deferred, or here)."""
        return self.start_video(context)


class TextToVideoOperator(VyroVideoOperator):
    """
    Make a video from a prompt (a job of minutes) and write it to ``output_path`` as an MP4.

    See :class:`VyroVideoOperator` for the arguments and the returned dict, and :doc:`/video`.
    """

    endpoint: ClassVar[Endpoint] = TEXT_TO_VIDEO


class ImageToVideoOperator(VyroVideoOperator):
    """
    Make a video that starts from an image (a product photo, say) and write it as an MP4.

    The image (the first frame) must be a JPEG or PNG by content; it is checked before the job
    is submitted. See :class:`VyroVideoOperator` for the other arguments and the returned dict
    (which adds ``image_path``), and :doc:`/video`.

    :param image_path: the first frame: a local path, ``file://`` URI or object-storage URI. (templated)
    """

    endpoint: ClassVar[Endpoint] = IMAGE_TO_VIDEO
    template_fields: Sequence[str] = ("image_path", *VyroVideoOperator.template_fields)

    def __init__(self, *, image_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_path = image_path

    def values(self) -> dict[str, Any]:
        """Give the job's arguments, the first frame's path among them."""
        return {**super().values(), "image_path": self.image_path}


__all__ = ["ImageToVideoOperator", "TextToVideoOperator", "VideoRun", "VyroVideoOperator"]
