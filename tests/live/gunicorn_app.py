"""The petstore with a slow route, for tests that serve it with gunicorn; its settings come from the environment,
but for its database, which ``testing`` takes only from ``create_app``."""

from __future__ import annotations

import os
import time

from flask import request

import example_petstore

app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=os.environ["SQLALCHEMY_DATABASE_URI"])


@app.get("/slow")
def slow() -> dict[str, float]:
    """Answer after ``?seconds=`` seconds: a request still in progress when the server is told to stop."""
    seconds = float(request.args.get("seconds", "1"))
    time.sleep(seconds)
    return {"slept": seconds}


@app.post("/body-length")
def body_length() -> dict[str, int]:
    """Answer how many bytes of body the view read: a view reading the request's body itself, as an upload does."""
    return {"length": len(request.get_data())}
