"""The petstore with a slow route, for tests that serve it with gunicorn; its settings come from the environment."""

from __future__ import annotations

import time

from flask import request

import example_petstore

app = example_petstore.create_app("testing")


@app.get("/slow")
def slow() -> dict[str, float]:
    """Answer after ``?seconds=`` seconds: a request still in progress when the server is told to stop."""
    seconds = float(request.args.get("seconds", "1"))
    time.sleep(seconds)
    return {"slept": seconds}
