"""``fromzero serve``: the runs as a JSON API and a web page (FastAPI + uvicorn; docs/serve.md).

``fromzero.serve.app.create_app`` builds the app (each run loaded once, by
``fromzero.serve.models.load_all``); ``fromzero.serve.worker.Worker`` is the one model thread
with its bounded queue; ``fromzero.serve.app.run_server`` serves until interrupted.
"""
