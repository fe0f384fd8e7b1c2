"""An auth manager for tests: SimpleAuthManager, but user ``outsider`` may not read DAG ``vyro_ui_images``."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
CLOSED_DAG = "vyro_ui_images"


class OneClosedDagAuthManager(SimpleAuthManager):
    """Deny :data:`OUTSIDER` every access to :data:`CLOSED_DAG`; otherwise decide as SimpleAuthManager."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if user.get_name() == OUTSIDER and details is not None and details.id == CLOSED_DAG:
            return False
        return bool(
            super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
        )
