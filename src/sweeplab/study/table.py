"""The trial table, logged at a sweep's end and stored as trials.csv on its parent run; the one text table."""

from collections.abc import Sequence
from typing import Any

import optuna

from sweeplab.protocol import Attr


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, params, value(s), duration."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        values = t.values if t.values is not None else [None] * len(study.directions)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                **{f"params.{k}": v for k, v in t.params.items()},
                **{f"value{i if len(values) > 1 else ''}": v for i, v in enumerate(values)},
                "duration_s": None if duration is None else round(duration, 2),
                "reason": t.user_attrs.get(Attr.REASON, ""),
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no trials)"
    columns = list(dict.fromkeys(k for row in rows for k in row if k != "reason"))
    return text_table(columns, [[_cell(row.get(c)) for c in columns] for row in rows])


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned to their widest cell, two spaces apart: this table and `sweeplab compare`'s."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
