"""tests/conftest.py of a service that gives the plugin its factory and settings as fixtures, not ini options."""

from typing import Any

import pytest
from petstore import create_app


@pytest.fixture
def ligand_app_factory() -> Any:
    """The factory the plugin's ``app`` fixture calls as ``create_app("testing", SQLALCHEMY_DATABASE_URI=...)``."""
    return create_app


@pytest.fixture
def ligand_settings() -> dict[str, Any]:
    """Settings every test's app gets; a test module or class can override this fixture again."""
    return {"PAGINATION_DEFAULT_PAGE_SIZE": 2}
