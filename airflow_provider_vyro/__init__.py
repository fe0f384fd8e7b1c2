__version__ = "0.1.0"
def get_provider_info():
    return {"package-name": "airflow-provider-vyro", "name": "Vyro", "description": "x", "versions": [__version__]}
