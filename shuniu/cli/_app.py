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
