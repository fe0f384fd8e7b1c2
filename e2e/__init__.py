"""
End-to-end check of the provider on real Airflow services.

``python -m e2e.run --executor local|celery`` starts an api-server, a scheduler and a
dag-processor (and, for Celery, Redis and two workers) in a scratch ``AIRFLOW_HOME`` on
loopback, with the API emulator and moto's S3 server, triggers the example DAGs through the
REST API and checks what Airflow stored and what the tasks wrote. See ``e2e/README.md``.
"""
