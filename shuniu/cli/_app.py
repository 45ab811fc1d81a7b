"""The typer application and what every command shares: addresses, errors, output."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sys
from collections.abc import Iterator

import grpc
import typer
from google.protobuf import json_format
from rich.console import Console

from shuniu.security import tls

app = typer.Typer(help="Shuniu (数纽): provincial compute-and-data exchange scheduler.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)

DEFAULT_ADDRESS = "127.0.0.1:7070"


def state_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu")).resolve()


def stack_file() -> pathlib.Path:
    return state_dir() / "stack.json"


def resolve_address(address: str | None) -> str:
    """--addr, else $SHUNIU_ADDR, else the running local stack's, else the default."""
    if address:
        return address
    if os.environ.get("SHUNIU_ADDR"):
        return os.environ["SHUNIU_ADDR"]
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        return json.loads(stack_file().read_text())["address"]
    return DEFAULT_ADDRESS


def _stack_tls() -> dict[str, str | None]:
    """The running local stack's CA directory and address, when it runs with mTLS."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        stack = json.loads(stack_file().read_text())
        if stack["tls_dir"]:
            return {tls.STACK_TLS_DIR_ENV: stack["tls_dir"], tls.STACK_ADDR_ENV: stack["address"]}
    return {}


@app.callback()
def _global_options(
    ctx: typer.Context,
    tls_dir: str = typer.Option(None, "--tls-dir", envvar=tls.TLS_DIR_ENV, show_envvar=True,
                                help="CA directory for mTLS (default: the local stack's, if it runs with mTLS)."),
    identity: str = typer.Option(None, "--identity", envvar=tls.IDENTITY_ENV, show_envvar=True,
                                 help="Whose certificate to present: a user name (default operator) or node:ID."),
) -> None:
    """Shuniu (数纽): provincial compute-and-data exchange scheduler."""
    # Clients read these from the environment (shuniu.client.Client, node agents); they are put
    # back when the command ends, so an in-process invocation leaves nothing behind.
    chosen = {tls.TLS_DIR_ENV: tls_dir, tls.IDENTITY_ENV: identity, **_stack_tls()}
    saved = {name: os.environ.get(name) for name in chosen}
    for name, value in chosen.items():
        if value:
            os.environ[name] = value

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    ctx.call_on_close(restore)
    # Commands that make or serve with certificates need none of their own yet.
    directory = os.environ.get(tls.TLS_DIR_ENV) or os.environ.get(tls.STACK_TLS_DIR_ENV)
    if directory and ctx.invoked_subcommand not in _NO_CLIENT_IDENTITY:
        try:
            tls.load_client_tls(directory, os.environ.get(tls.IDENTITY_ENV) or tls.DEFAULT_IDENTITY)
        except ValueError as err:
            fail(str(err))


_NO_CLIENT_IDENTITY = ("ca", "up", "control-plane")


AddressOption = typer.Option(None, "--addr", help="Control plane host:port (default: $SHUNIU_ADDR, the local stack, 127.0.0.1:7070).")
JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of a table.")


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def rpc_errors() -> Iterator[None]:
    """Prints a refused or failed call as `error: CODE: message` and exits non-zero."""
    try:
        yield
    except grpc.RpcError as err:
        code = err.code() if hasattr(err, "code") else None
        details = err.details() if hasattr(err, "details") else str(err)
        if code == grpc.StatusCode.UNAVAILABLE:
            details += " (is the control plane running? start it with `shuniu up`)"
        fail(f"{code.name if code else 'RPC'}: {details}")


def to_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
