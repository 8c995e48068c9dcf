"""``flask ligand`` commands for developers of a service, and ``flask genclient`` (upstream's) for client packages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_jwt_extended import create_access_token

from flask_ligand import clientgen
from flask_ligand.errors import ClientGenerationError
from flask_ligand.testing import roles_claim

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
    claims = roles_claim(role_list, current_app.config.get("OIDC_ROLES_CLAIM", "realm_access.roles"))
    click.echo(create_access_token(sub, additional_claims=claims, expires_delta=timedelta(seconds=expires_in)))


@click.group(cls=AppGroup)
@click.option(
    "--private/--public",
    default=False,
    show_default=True,
    help="Bake SERVICE_PRIVATE_URL or SERVICE_PUBLIC_URL into the client; the download link starts with it too.",
)
@click.pass_context
def genclient(ctx: click.Context, private: bool) -> None:
    """Generate an OpenAPI client of this service, locally, and print its download link (the last line).

    The archive is kept in the generation cache (the instance folder), from which the running service serves the
    link. Needs Java; no identity provider and no network, so it works in the 'cli' environment.
    """
    ctx.ensure_object(dict)
    ctx.obj["PRIVATE"] = private


_OUT_OPTION = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the client's files into this folder (created if needed).",
)


@genclient.command("python")
@_OUT_OPTION
@click.pass_context
def python(ctx: click.Context, out: Path | None) -> None:
    """Generate the Python client (OpenAPI Generator's 'python')."""
    _generate_and_print(ctx, "python", out)


@genclient.command("typescript")
@_OUT_OPTION
@click.pass_context
def typescript(ctx: click.Context, out: Path | None) -> None:
    """Generate the TypeScript client (OpenAPI Generator's 'typescript-axios')."""
    _generate_and_print(ctx, "typescript-axios", out)


def _generate_and_print(ctx: click.Context, generator: str, out: Path | None) -> None:
    try:
        client = clientgen.generate_client(generator, use_private_url=ctx.obj["PRIVATE"])
    except ClientGenerationError as error:
        raise click.ClickException(str(error)) from error
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        clientgen.extract_client(client, out)
        click.echo(f"Wrote the {generator} client {client.name} {client.version} to {out}.")
    click.echo(clientgen.download_link(client, client.server_url))
