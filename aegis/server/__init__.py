"""`aegis serve`: the REST API (FastAPI), its auth and rate limits, and the web dashboard."""
