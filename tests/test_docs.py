"""The documentation stays in step with the code."""

from __future__ import annotations

import pytest

from flask_ligand.settings import _COMMON_DEFAULTS, ENV_SETTINGS, ENVIRONMENTS
from tests.conftest import REPO_ROOT

CONFIGURATION = (REPO_ROOT / "docs" / "configuration.md").read_text()
ALL_SETTINGS = sorted(
    {*ENV_SETTINGS, *_COMMON_DEFAULTS, *(key for env in ENVIRONMENTS.values() for key in env.defaults)}
)


@pytest.mark.parametrize("key", ALL_SETTINGS)
def test_every_setting_is_documented_in_the_configuration_table(key: str) -> None:
    """Each setting the library defines or reads from the environment has a row in docs/configuration.md."""
    assert f"| `{key}`" in CONFIGURATION
