"""Schemathesis against the live petstore: no 5xx, and no response that breaks the documented spec."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, assume, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Err

from tests.conftest import TokenFactory
from tests.servers import serve

#: Examples per operation and generation mode, the same ones every run: under a minute for the four runs. For a deeper,
#: random search, e.g. ``SCHEMATHESIS_MAX_EXAMPLES=400 SCHEMATHESIS_RANDOM=1 pytest tests/live/test_schemathesis.py``
#: (such runs found the out-of-range datetime of tests/test_filtering.py).
#: gunicorn.conf.py's limit_request_line.
REQUEST_LINE_MAX = 8190
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("SCHEMATHESIS_RANDOM"),
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_petstore_answers_every_generated_request_as_documented(
    app: Flask, make_token: TokenFactory, mode: GenerationMode
) -> None:
    """Generated requests with an admin token get no 5xx, and each status, header and body is the documented one."""
    token = make_token(roles=["user", "admin"])
    failures: dict[str, str] = {}
    with serve(app) as base_url:
        spec = schemathesis.openapi.from_url(f"{base_url}/openapi/api-spec.json")

        @spec.auth()
        class BearerToken:
            """The token, as schemathesis' own auth: a case that leaves it out on purpose goes without it."""

            def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
                return token

            def set(self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext) -> None:
                case.headers["Authorization"] = f"Bearer {data}"

        # The client-generation endpoints run Java for seconds per request; their own tests cover them.
        operations = []
        for result in spec.exclude(path_regex="^/openapi/").get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # an operation schemathesis cannot read is a broken spec
            operations.append(result.ok())
        assert operations, "the spec lists no operation"
        for operation in operations:

            @given(case=operation.as_strategy(mode))
            @HYPOTHESIS
            def check(case: schemathesis.Case[Any]) -> None:
                # A query over gunicorn's request line limit never reaches the service in production (gunicorn answers
                # a JSON 414: tests/live/test_gunicorn.py); werkzeug's server here would answer its own HTML page.
                assume(len(urlencode(case.query or {}, doseq=True)) <= REQUEST_LINE_MAX - 200)
                # Valid-looking data may still be refused, as documented: a random If-Match is a 412 and a random
                # cursor a 422. Every other check runs, no 5xx and the responses' conformance to the spec included.
                case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])

            try:
                check()
            except Exception as error:  # every failure of every operation is reported below
                failures[operation.label] = str(error)
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())
