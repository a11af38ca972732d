"""The named queries' SQL, one file each under queries/sql/, loaded by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(name: str) -> str:
    """The text of queries/sql/<name>.sql."""
    return resources.files("queries").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def sql_names() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("queries").joinpath("sql").iterdir()
                  if p.name.endswith(".sql"))
