"""The documented queries risk and service teams run (``queries/NN_name.sql``).

Each file starts with ``-- key: value`` header lines (title, team, question, optional
``params``); parameters appear in the SQL as ``%(name)s`` and are substituted client-side
as escaped literals, so the same text runs on ClickHouse 18.16 (which has no server-side
parameters) and on current ClickHouse. ``hub clickhouse query NAME`` runs one as the
read-only user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickhouse_driver.util.escape import escape_param

QUERIES_DIR = Path(__file__).resolve().parent / "queries"
_FILE_RE = re.compile(r"^\d{2}_([a-z0-9_]+)\.sql$")
_HEADER_RE = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")


@dataclass(frozen=True)
class DocumentedQuery:
    name: str
    path: Path
    title: str
    team: str
    question: str
    params: tuple[str, ...]
    sql: str

    def render(self, params: Mapping[str, Any] | None = None) -> str:
        """The SQL with parameters substituted as escaped literals."""
        params = dict(params or {})
        missing = [p for p in self.params if p not in params]
        if missing:
            raise KeyError(f"query {self.name} needs parameter(s): {', '.join(missing)}")
        if not self.params:
            return self.sql
        return self.sql % {k: escape_param(v, None) for k, v in params.items()}


def load_queries(directory: Path = QUERIES_DIR) -> list[DocumentedQuery]:
    """Every documented query, in file order."""
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise ValueError(f"{path.name}: query files are named NN_name.sql")
        text = path.read_text()
        header: dict[str, str] = {}
        body: list[str] = []
        for line in text.splitlines():
            h = _HEADER_RE.match(line)
            if h and not body:
                header[h.group(1)] = h.group(2).strip()
            else:
                body.append(line)
        for key in ("title", "team", "question"):
            if key not in header:
                raise ValueError(f"{path.name}: missing '-- {key}:' header line")
        params = tuple(p.strip() for p in header.get("params", "").split(",") if p.strip())
        out.append(
            DocumentedQuery(
                name=m.group(1),
                path=path,
                title=header["title"],
                team=header["team"],
                question=header["question"],
                params=params,
                sql="\n".join(body).strip().rstrip(";"),
            )
        )
    return out


def get_query(name: str) -> DocumentedQuery:
    """A documented query by name (``customer_360`` or ``01_customer_360``)."""
    for q in load_queries():
        if name in (q.name, q.path.stem):
            return q
    known = ", ".join(q.name for q in load_queries())
    raise KeyError(f"no documented query {name!r} (known: {known})")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 100) -> str:
    """A plain-text table for the terminal."""
    shown = [[_cell(v) for v in row] for row in rows[:limit]]
    widths = [len(c) for c in columns]
    for row in shown:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in shown]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)
