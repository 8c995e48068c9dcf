"""How a numbered page finds the total of its query: ``COUNT(*)``, or PostgreSQL's planner estimate.

The count runs as ``SELECT count(*) FROM ... WHERE ...`` whenever nothing in the query changes its number of rows,
and around a subquery otherwise; the estimate is an ``EXPLAIN``, which reads no rows.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Executable

from flask_ligand.extensions.database import DB

#: How ``SQLCursorPage`` finds the total for ``X-Pagination``: ``exact`` runs ``COUNT(*)``, ``none`` skips it,
#: ``estimate`` takes PostgreSQL's planner estimate when it is large (see ``PAGINATION_COUNT_ESTIMATE_ABOVE``).
COUNT_STRATEGIES = ("exact", "none", "estimate")


def total_rows(collection: Any) -> tuple[int | None, bool]:
    """The total of ``collection`` as ``PAGINATION_COUNT`` says, and whether it is PostgreSQL's estimate.

    ``none``: no total. ``estimate``: the planner's estimate when it is at least ``PAGINATION_COUNT_ESTIMATE_ABOVE``,
    else (and on other databases) a count. ``exact``: a count.
    """
    strategy = current_app.config.get("PAGINATION_COUNT", "exact")
    if strategy == "none":
        return None, False
    if strategy == "estimate":
        estimate = estimate_rows(collection)
        if estimate is not None and estimate >= current_app.config.get("PAGINATION_COUNT_ESTIMATE_ABOVE", 10_000):
            return estimate, True
    return count_rows(collection), False


def _unordered(collection: Any) -> tuple[Any, Select[Any]]:
    """``collection`` without its ``ORDER BY``, and that as a ``select()`` (a ``Model.query``'s statement)."""
    unordered = collection.order_by(None)
    return unordered, unordered if isinstance(unordered, Select) else unordered.statement


def count_rows(collection: Any) -> int:
    unordered, statement = _unordered(collection)
    if _countable_in_place(statement):
        # SELECT count(*) FROM <the query's FROM and WHERE>: cheaper to build, compile and run than a subquery.
        counted = statement.with_only_columns(func.count(), maintain_column_froms=True)
    elif isinstance(unordered, Select):
        counted = select(func.count()).select_from(unordered.subquery())
    else:
        return int(unordered.count())
    return int(DB.session.scalar(counted) or 0)


def _countable_in_place(statement: Select[Any]) -> bool:
    """Whether replacing the columns of ``statement`` by ``count(*)`` counts its rows.

    Not with anything that makes the rows depend on the columns (``DISTINCT``, ``GROUP BY``), bounds them (``LIMIT``),
    or that the ORM adds to the ``FROM`` (joins and loader options): those are counted around a subquery.
    """
    return not (
        # SQLAlchemy has no public accessor for these parts of a Select.
        statement._distinct
        or statement._group_by_clauses
        or statement._having_criteria
        or statement._limit_clause is not None
        or statement._offset_clause is not None
        or statement._fetch_clause is not None
        or statement._setup_joins
        or statement._with_options
        or statement._for_update_arg is not None
    )


def estimate_rows(collection: Any) -> int | None:
    """PostgreSQL's planner estimate of the rows of ``collection`` (``EXPLAIN``, no rows read); ``None`` elsewhere."""
    _, statement = _unordered(collection)
    if DB.session.get_bind(clause=statement).dialect.name != "postgresql":
        return None
    plan = DB.session.scalar(_Explain(statement))
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement, with its parameters bound as the statement's own would be."""

    inherit_cache = False  # a wrapper: caching it would need a cache key of its own for little gain

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: Any, **kwargs: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kwargs))
