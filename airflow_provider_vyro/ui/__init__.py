"""
The "Vyro images" view in the Airflow UI (Airflow 3.1+): a plugin, its FastAPI app and the extra link.

Nothing here is imported by DAGs or operators except :mod:`airflow_provider_vyro.ui.links`, which
stays cheap; the app's modules are imported by the api-server when the plugin is first used.
"""
