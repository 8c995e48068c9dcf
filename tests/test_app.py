"""The Flask app ``create_app`` returns: request hooks of every kind run on every request."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from flask.views import MethodView

import flask_ligand


class _UnhashableHook:
    """A callable hook defining ``__eq__`` without ``__hash__``, as a dataclass does: it cannot be remembered."""

    def __init__(self) -> None:
        self.calls = 0

    def __eq__(self, other: object) -> bool:
        return self is other

    def __call__(self) -> None:
        self.calls += 1


def _app() -> Flask:
    app, _api = flask_ligand.create_app(__name__, "testing", "Hooks", "1.0.0")
    return app


def test_the_app_is_a_flask_app() -> None:
    assert isinstance(_app(), Flask)


def test_unhashable_and_plain_hooks_run_on_every_request() -> None:
    app = _app()
    unhashable = _UnhashableHook()
    app.before_request(unhashable)
    app.before_request(lambda: setattr(g, "plain_hook_ran", True))

    @app.get("/hooked")
    def hooked() -> dict[str, Any]:
        return {"plain": g.get("plain_hook_ran", False)}

    client = app.test_client()
    answers = [client.get("/hooked").get_json() for _ in range(3)]

    assert answers == [{"plain": True}] * 3
    assert unhashable.calls == 3


def test_a_coroutine_function_is_never_taken_for_a_plain_one() -> None:
    app = _app()

    async def coroutine_view() -> str:
        return "done"

    for _ in range(2):  # asked twice: the first answer must not be remembered as "plain"
        try:
            synced = app.ensure_sync(coroutine_view)
        except RuntimeError as error:  # Flask without its async extra refuses coroutine views
            assert "async" in str(error)
        else:
            assert synced is not coroutine_view


def test_functions_made_at_each_request_do_not_grow_the_app() -> None:
    app = _app()

    for number in range(5000):
        assert app.ensure_sync(lambda number=number: number)() == number

    remembered: set[Any] = vars(app)["_plain"]
    assert len(remembered) <= 1024


@pytest.mark.parametrize("environment", ["testing", "local"])
def test_an_async_view_is_a_json_error_not_a_plain_answer(environment: str) -> None:
    app, _api = flask_ligand.create_app(__name__, environment, "Hooks", "1.0.0")

    @app.get("/async")
    async def async_view() -> dict[str, str]:
        return {"ran": "yes"}

    response = app.test_client().get("/async")

    if importlib.util.find_spec("asgiref") is None:  # without Flask's async extra it cannot run: a JSON 500
        assert response.status_code == 500
        assert response.is_json
    else:
        assert response.get_json() == {"ran": "yes"}


def test_the_methods_of_a_method_view_are_remembered_once(client: FlaskClient, app: Flask) -> None:
    """A ``MethodView``'s methods are bound to a new view object at each request: they are remembered by their
    function, so the set stays as small as the app's functions however many requests come, and holds no view."""
    for _ in range(300):
        assert client.get("/pets/").status_code == 200

    remembered: set[Any] = vars(app)["_plain"]
    assert len(remembered) < 100
    assert not any(hasattr(item, "__self__") and isinstance(item.__self__, MethodView) for item in remembered)
