"""`shuniu ca …`: the exchange's certificate authority (make a CA, issue server, node and user certificates)."""

from __future__ import annotations

import pathlib

import typer

from shuniu.cli._app import app, console, fail, state_dir
from shuniu.security import pki

ca_app = typer.Typer(help="Certificate authority for mTLS: `ca init`, then `ca issue`.", no_args_is_help=True)
app.add_typer(ca_app, name="ca")


def _default_dir() -> pathlib.Path:
    return state_dir() / "ca"


DirOption = typer.Option(None, "--dir", help="CA directory (default: STATE_DIR/ca, e.g. .shuniu/ca).")
ForceOption = typer.Option(False, "--force", help="Replace existing files.")


@ca_app.command("init")
def ca_init(directory: pathlib.Path = DirOption, force: bool = ForceOption,
            server: bool = typer.Option(True, help="Also issue the control plane's server certificate "
                                                   "(127.0.0.1, localhost).")) -> None:
    """Makes a CA (ECDSA P-256 key and self-signed certificate) and the control plane's certificate."""
    directory = directory or _default_dir()
    try:
        made = [pki.init_ca(directory, force)]
        if server:
            made.append(pki.issue_server(directory, force=force))
    except pki.PkiError as err:
        fail(str(err))
    for path in made:
        console.print(f"wrote {path} (key beside it)", highlight=False)


@ca_app.command("issue")
def ca_issue(
    node: list[str] = typer.Option([], "--node", help="Node id the certificate binds (repeatable; ID* binds a prefix)."),
    user: str = typer.Option("", "--user", help="User (organisation) name the certificate binds."),
    role: str = typer.Option("", "--role", help=f"Role of --user: {', '.join(pki.USER_ROLES)}."),
    server: bool = typer.Option(False, "--server", help="Issue the control plane's server certificate instead."),
    host: list[str] = typer.Option(list(pki.SERVER_HOSTS), "--host", help="Host name or address of --server (repeatable)."),
    directory: pathlib.Path = DirOption,
    force: bool = ForceOption,
) -> None:
    """Issues a certificate signed by the CA: --node ID, --user NAME --role ROLE, or --server."""
    directory = directory or _default_dir()
    chosen = [name for name, given in (("--node", bool(node)), ("--user", bool(user)), ("--server", server)) if given]
    if len(chosen) != 1:
        fail(f"give exactly one of --node ID, --user NAME --role ROLE or --server; got {', '.join(chosen) or 'none'}")
    if role and not user:
        fail("--role goes with --user NAME")
    try:
        if server:
            path = pki.issue_server(directory, tuple(host), force)
            what = f"server certificate for {', '.join(host)}"
        else:
            if user and not role:
                fail(f"--user needs --role; expected one of {', '.join(pki.USER_ROLES)}")
            identity = pki.node_identity(*node) if node else pki.user_identity(user, role)
            path = pki.issue_identity(directory, identity, force)
            what = f"{identity.role} certificate for {identity.name} (use it with --identity " \
                   f"{'node:' + '+'.join(identity.names) if node else identity.name})"
    except pki.PkiError as err:
        fail(str(err))
    console.print(f"wrote {path}: {what}", highlight=False)
