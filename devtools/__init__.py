"""
Repository-only tools shared by the demo, the tests and the benchmarks.

Not part of the wheel: a scratch Airflow home that runs DAGs with ``airflow dags test`` and reads
back what Airflow stored, test images, and the soak run of ``make soak``.
"""
