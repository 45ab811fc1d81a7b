"""`shuniu bench …`: benchmarks that print figures beside a baseline measured in the same run."""

from __future__ import annotations

import typer

from shuniu.cli._app import app

bench_app = typer.Typer(help="Benchmarks, each against a baseline in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
