"""``flask ligand`` commands for developers of a service."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from flask_jwt_extended import create_access_token

ligand = AppGroup("ligand", help="flask-ligand developer tools.")


@ligand.command("token")
@click.option("--roles", default="user", show_default=True, help="Comma-separated roles to put in the token.")
@click.option("--sub", default="local-developer", show_default=True, help="The token's subject (the user id).")
@click.option("--expires-in", default=3600, show_default=True, help="Lifetime in seconds.")
def token(roles: str, sub: str, expires_in: int) -> None:
    """Print a bearer token signed with the development key (``local`` and ``testing`` only).

    Paste it into Swagger UI's Authorize dialog. Production never accepts such tokens.
    """
    if not current_app.config.get("JWT_PRIVATE_KEY") or current_app.config.get("OIDC_DISCOVERY_URL"):
        raise click.ClickException(
            "Development tokens exist only in the 'local' and 'testing' environments without OIDC_DISCOVERY_URL; "
            "get a token from your identity provider instead."
        )
    role_list = [role.strip() for role in roles.split(",") if role.strip()]
    claims = {"realm_access": {"roles": role_list}}
    click.echo(create_access_token(sub, additional_claims=claims, expires_delta=timedelta(seconds=expires_in)))
