"""The trial table: logged at the end of a sweep and stored as trials.csv on the study's parent run."""

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
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
