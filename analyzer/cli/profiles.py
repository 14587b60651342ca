"""`wstape profiles`: the profiles shipped with wstape, and `show NAME` to print one as the TOML
that a user copies and edits (or extends with `extends = "NAME"`)."""

from __future__ import annotations

import click

from wstape.analyzer.cli.common import InputError
from wstape.analyzer.profile import ProfileError, builtin_names, builtin_text, load_profile


@click.group(invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """List the built-in profiles, by the name `--profile` takes.

    \b
    Examples:
      wstape profiles                          # name, protocol, required events
      wstape profiles show ag-ui > mine.toml   # copy one, edit it, then --profile mine.toml
    """
    if ctx.invoked_subcommand is not None:
        return
    found = [(name, load_profile(name)) for name in builtin_names()]
    # Columns as wide as their longest entry.
    width = max(len(name) for name, _ in found)
    protocols = max(len(profile.protocol.name) for _, profile in found)
    for name, profile in found:
        required = ", ".join(kind.value for kind in profile.required_completed)
        protocol = profile.protocol.name
        click.echo(f"{name:<{width}} protocol {protocol:<{protocols}} requires {required}")


@profiles.command()
@click.argument("name")
def show(name: str) -> None:
    """Print the built-in profile NAME as TOML.

    \b
    Example:
      wstape profiles show ag-ui
    """
    try:
        click.echo(builtin_text(name), nl=False)
    except ProfileError as exc:
        raise InputError(str(exc)) from None
