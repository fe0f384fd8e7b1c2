"""
The Airflow plugin: the ``/vyro`` app in the api-server and the "Vyro images" view of a task instance.

It is registered twice, as Airflow asks of providers: the ``airflow.plugins`` entry point (loaded
with Airflow's default settings) and the ``plugins`` of the provider info (loaded when
``[core] lazy_discover_providers`` is off). On Airflow before 3.1, which has no external views,
the entry point names no plugin (:data:`plugin` is ``None``) and the provider info lists none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_vyro.ui.links import VIEW_ROUTE, VyroImagesLink
from airflow_provider_vyro.version_compat import AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

URL_PREFIX = "/vyro"
"""Where the api-server mounts the app."""

VIEW_NAME = VyroImagesLink.name
"""The view's tab, and the extra link's button."""


class LazyApp:
    """The ``/vyro`` app, built on its first request: processes that only load plugins never import it."""

    def __init__(self) -> None:
        self._app: Callable[..., Awaitable[None]] | None = None

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        """Pass an ASGI call on to the app."""
        if self._app is None:
            from airflow_provider_vyro.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class VyroImagesPlugin(AirflowPlugin):
    """The "Vyro images" view of a task instance, and the app serving it (Airflow 3.1+)."""

    name = "vyro"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": VIEW_NAME}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": VIEW_NAME,
            "href": URL_PREFIX + "/view/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}",
            "destination": "task_instance",
            "url_route": VIEW_ROUTE,
        }
    ]


plugin: type[VyroImagesPlugin] | None = VyroImagesPlugin if AIRFLOW_V_3_1_PLUS else None
"""What the ``airflow.plugins`` entry point names: the plugin on Airflow 3.1+, else nothing."""

__all__ = ["URL_PREFIX", "VIEW_NAME", "VIEW_ROUTE", "VyroImagesPlugin", "plugin"]
