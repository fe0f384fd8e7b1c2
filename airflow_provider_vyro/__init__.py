"""Apache Airflow provider for Vyro's Imagine API."""

from __future__ import annotations

from typing import Any

from airflow_provider_vyro.connection_form import provider_info_form

__version__ = "0.2.0"

PACKAGE_NAME = "airflow-provider-vyro"


def get_provider_info() -> dict[str, Any]:
    """
    Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    The connection form is declared here (``ui-field-behaviour`` and ``conn-fields``, from
    :mod:`airflow_provider_vyro.connection_form`) so Airflow 3.2+ builds it without importing the hook.
    On Airflow 3.1+ it also lists the "Vyro images" plugin and extra link.
    """
    info: dict[str, Any] = {
        "package-name": PACKAGE_NAME,
        "name": "Vyro",
        "description": (
            "`Vyro Imagine API <https://docs.imagine.art/>`__: inpainting, generative fill, "
            "text to image, AI backgrounds and video in DAGs."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Vyro Imagine API",
                "external-doc-url": "https://docs.imagine.art/",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Vyro Imagine API",
                "python-modules": ["airflow_provider_vyro.hooks.vyro"],
            }
        ],
        "operators": [
            {
                "integration-name": "Vyro Imagine API",
                "python-modules": [
                    "airflow_provider_vyro.operators.inpaint",
                    "airflow_provider_vyro.operators.generate",
                    "airflow_provider_vyro.operators.background",
                    "airflow_provider_vyro.operators.edit",
                    "airflow_provider_vyro.operators.generic",
                    "airflow_provider_vyro.operators.video",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Vyro Imagine API",
                "python-modules": ["airflow_provider_vyro.triggers.vyro"],
            }
        ],
        "task-decorators": [
            {"name": "vyro", "class-name": "airflow_provider_vyro.decorators.vyro.vyro_task"},
        ],
        "connection-types": [
            {
                "connection-type": "vyro",
                "hook-class-name": "airflow_provider_vyro.hooks.vyro.VyroHook",
                "hook-name": "Vyro Imagine API",
                **provider_info_form(),
            }
        ],
    }
    if _airflow_has_views():
        info["plugins"] = [
            {"name": "vyro", "plugin-class": "airflow_provider_vyro.ui.plugin.VyroImagesPlugin"}
        ]
        info["extra-links"] = ["airflow_provider_vyro.ui.links.VyroImagesLink"]
    return info


def _airflow_has_views() -> bool:
    """Tell whether the installed Airflow is 3.1+ from its metadata (importing it here would be circular)."""
    from importlib.metadata import version

    from packaging.version import Version

    return Version(version("apache-airflow")) >= Version("3.1")
