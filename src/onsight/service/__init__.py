"""The web service: authentication, FastAPI app, dashboard, API and metrics."""
