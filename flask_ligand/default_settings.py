"""Upstream's import path for the environment configurator; the definitions live in ``flask_ligand.settings``."""

from flask_ligand.settings import ENVIRONMENTS as ENVIRONMENTS
from flask_ligand.settings import flask_environment_configurator as flask_environment_configurator
