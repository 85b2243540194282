"""Ray vs local ingest engines on one generated corpus (``python -m bench.ray.run``)."""
