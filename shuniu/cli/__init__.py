"""The `shuniu` command line."""

from shuniu.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
