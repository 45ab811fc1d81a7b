import typer

app = typer.Typer(help="Shuniu (数纽): provincial compute-and-data exchange scheduler.", no_args_is_help=True)
