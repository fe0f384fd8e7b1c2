"""Apache Airflow provider for Vyro's Imagine API."""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

PACKAGE_NAME = "airflow-provider-vyro"


def get_provider_info() -> dict[str, Any]:
    """
    Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    The connection form is declared here (``ui-field-behaviour`` and ``conn-fields``) so the UI
    builds it without importing the hook.
    """
    return {
        "package-name": PACKAGE_NAME,
        "name": "Vyro",
        "description": "`Vyro Imagine API <https://docs.imagine.art/>`__: inpainting of images in DAGs.",
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
                "python-modules": ["airflow_provider_vyro.operators.inpaint"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "vyro",
                "hook-class-name": "airflow_provider_vyro.hooks.vyro.VyroHook",
                "hook-name": "Vyro Imagine API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "API token", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.vyro.ai (leave empty for the public API)",
                        "password": "your Vyro API token",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Read timeout (seconds)",
                        "description": "How long one call may wait for the answer. Default 180.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": (
                            "Retries of a call after connection errors, timeouts, 429 and 5xx. Default 3."
                        ),
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                    "backoff_factor": {
                        "label": "Backoff factor (seconds)",
                        "description": "Base of the exponential backoff between retries. Default 1.0.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                },
            }
        ],
    }
