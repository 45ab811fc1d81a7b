"""The shape every benchmark reports in: figures beside their baseline, a ratio and a goal."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field

from rich.table import Table


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


@dataclass
class Report:
    benchmark: str
    baseline: str
    params: dict
    figures: list[Figure] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure

    def to_json(self) -> str:
        return json.dumps({
            "benchmark": self.benchmark,
            "baseline": self.baseline,
            "params": self.params,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "figures": [{**asdict(f), "ratio": None if f.ratio is None else round(f.ratio, 3)} for f in self.figures],
        }, ensure_ascii=False)

    def table(self) -> Table:
        table = Table(title=f"bench {self.benchmark} (baseline: {self.baseline})", header_style="bold", title_justify="left")
        for column in ("figure", "value", "baseline", "ratio", "goal", "met"):
            table.add_column(column, justify="left" if column in ("figure", "goal") else "right")
        for f in self.figures:
            table.add_row(
                f.name, f"{f.value:,.2f} {f.unit}", "" if f.baseline is None else f"{f.baseline:,.2f} {f.unit}",
                "" if f.ratio is None else f"{f.ratio:.2f}×", f.goal,
                "" if f.met is None else ("[green]yes[/]" if f.met else "[red]no[/]"),
            )
        return table
