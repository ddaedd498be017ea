"""`sweeplab compare`'s report: the console's table, compare.html and compare.csv, logged onto MLflow."""

import base64
import csv
import html
import io
from dataclasses import asdict
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from sweeplab.kaggle.comparison import Row, agreement_lines, collect, comparison_run, history  # noqa: E402
from sweeplab.protocol import Role  # noqa: E402
from sweeplab.study.table import text_table  # noqa: E402

PARAMS_WIDTH = 60  # characters of the params column; the CSV and HTML report keep them whole
OVERFIT_WORDS = {True: "YES", False: "no", None: "-"}
SCORES = ("best val", "final val", "public", "private", "gap", "ep val", "ep pub", "overfit")


def compare(
    client: MlflowClient, experiment: str, study: str | None, top: int | None, out: Path, log: bool = False
) -> str:
    """Print-ready table; the report goes to `out` and onto the study's parent run (with a study: no new
    run), or with `log` onto the experiment's one comparison run, reused by every later `--log`."""
    rows, parent = collect(client, experiment, study, top)
    notes = agreement_lines(client, rows) if study else []
    out.mkdir(parents=True, exist_ok=True)
    title = f"sweeplab compare: {experiment}" + (f" / {study}" if study else "")
    paths = write_report(client, rows, title, out, notes=notes)
    said = f"report: {paths[0]}"
    if log or parent is not None:
        target = parent or comparison_run(client, experiment)
        for path in paths:
            client.log_artifact(target, str(path), "comparison")
        said += f" (also on run {target}, artifacts comparison/)"
    return format_table(rows) + "\n\n" + "".join(line + "\n" for line in notes) + said


def format_table(rows: list[Row]) -> str:
    """The console's table: one line per run, best first; a study's swept keys are its first columns, the
    other params that differ one column after them."""
    swept = list(rows[0].swept) if rows else []
    with_params = not swept or any(r.params for r in rows)
    header = ("run", *swept, *(["params"] if with_params else []), *SCORES)
    return text_table(header, [_line(r, with_params) for r in rows])


def _line(r: Row, with_params: bool) -> tuple[str, ...]:
    named = r.kind in (Role.REFIT, Role.ENSEMBLE) or (r.kind == Role.TRIAL and r.name.startswith("#"))
    params = r.params or ("" if named else r.name)
    if len(params) > PARAMS_WIDTH:
        params = params[: PARAMS_WIDTH - 1] + "…"
    return (
        r.run_id[:8] + (f" {r.name}" if named else "") + (" pruned" if r.pruned else ""),
        *r.swept.values(),
        *([params] if with_params else []),
        *(_f(v) for v in (r.best_val, r.final_val, r.public, r.private, r.gap)),
        *(_f(v) for v in (r.best_val_epoch, r.best_public_epoch)),
        OVERFIT_WORDS[r.overfits],
    )


def record(r: Row) -> dict:
    """A row as compare.csv and compare.html have it: the swept keys as columns of their own."""
    fields = asdict(r)
    swept = fields.pop("swept")
    named = {f"param.{k}" if k in fields else k: v for k, v in swept.items()}
    return {"run_id": fields.pop("run_id"), "name": fields.pop("name"), **named, **fields}


def _f(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


LABEL_PT = 7  # font size of a point's run id
# Where a name may sit around its point: (x, y) offset in points and which side of that x the name takes
# (0: starts there, 1: ends there, 0.5: centred); right, left, above, below, then the four corners.
LABEL_SPOTS = (
    (4, -3, 0),
    (-4, -3, 1),
    (0, 5, 0.5),
    (0, -11, 0.5),
    (4, 4, 0),
    (-4, 4, 1),
    (4, -11, 0),
    (-4, -11, 1),
)


def label_apart(ax, points: list[tuple[float, float]], names: list[str]) -> int:
    """Name each point beside it where the name covers no other name, point or the legend (the first free
    spot of LABEL_SPOTS), best-scored points first; returns how many were left unnamed."""
    ax.figure.canvas.draw()  # the data-to-pixel transform needs the final axis limits
    scale = ax.figure.dpi / 72  # pixels per point
    pixels = ax.transData.transform(np.asarray(points, dtype=float))
    taken: list[tuple[float, float, float, float]] = []
    legend = ax.get_legend()
    if legend is not None:  # names stay off the legend too
        box = legend.get_window_extent()
        taken.append((box.x0, box.y0, box.x1, box.y1))
    unnamed = 0
    for (x, y), (px, py), name in zip(points, pixels, names, strict=True):
        width, height = 0.62 * LABEL_PT * len(name) * scale, LABEL_PT * scale
        for dx, dy, side in LABEL_SPOTS:
            left = px + dx * scale - side * width
            box = (left, py + dy * scale, left + width, py + dy * scale + height)
            if not any(_overlap(box, b) for b in taken) and not _covers(box, pixels):
                taken.append(box)
                ax.annotate(
                    name,
                    (x, y),
                    xytext=(box[0] - px, box[1] - py),
                    textcoords="offset pixels",
                    fontsize=LABEL_PT,
                )
                break
        else:
            unnamed += 1
    return unnamed


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _covers(box: tuple[float, ...], pixels: np.ndarray, radius: float = 3.0) -> bool:
    """Whether the box hides any point's marker (markers are ~6 px across)."""
    x, y = pixels[:, 0], pixels[:, 1]
    return bool(
        ((x + radius > box[0]) & (x - radius < box[2]) & (y + radius > box[1]) & (y - radius < box[3])).any()
    )


def write_report(
    client: MlflowClient, rows: list[Row], title: str, folder: Path, curves: int = 5, notes: list[str] = ()
) -> list[Path]:
    """compare.html (val vs public scatter with the diagonal; curves of the top runs) and compare.csv."""
    table = folder / "compare.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(record(rows[0])))
        writer.writeheader()
        writer.writerows(record(r) for r in rows)
    scored = [r for r in rows if r.best_val is not None and r.public is not None]
    figure, ax = plt.subplots(figsize=(5, 5))
    if scored:
        ax.scatter([r.best_val for r in scored], [r.public for r in scored])
        low = min(min(r.best_val, r.public) for r in scored)
        high = max(max(r.best_val, r.public) for r in scored)
        ax.plot([low, high], [low, high], "k--", lw=1, label="public = val")
        ax.legend(loc="lower right")
        unnamed = label_apart(ax, [(r.best_val, r.public) for r in scored], [r.run_id[:8] for r in scored])
        if unnamed:
            ax.set_title(f"{unnamed} crowded points unnamed (every run is in the table)", fontsize=8)
    ax.set_xlabel("best validation score")
    ax.set_ylabel("public score at that epoch")
    scatter = _png(figure)
    figure, ax = plt.subplots(figsize=(9, 4))
    for r in rows[:curves]:
        val = history(client, r.run_id, "val/score")
        public = history(client, r.run_id, "kaggle/public")
        line = ax.plot(sorted(val), [val[e] for e in sorted(val)], label=f"{r.run_id[:8]} val")[0]
        if len(public) > 1:
            ax.plot(
                sorted(public),
                [public[e] for e in sorted(public)],
                "--",
                color=line.get_color(),
                label=f"{r.run_id[:8]} public",
            )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel("score")
    ax.legend(fontsize=7)
    curves_png = _png(figure)
    html_rows = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(k, v)}</td>" for k, v in record(r).items()) + "</tr>" for r in rows
    )
    trust = (
        f"<h2>How far to trust validation</h2><pre>{html.escape(chr(10).join(notes))}</pre>" if notes else ""
    )
    header = "".join(f"<th>{html.escape(k)}</th>" for k in record(rows[0]))
    report = folder / "compare.html"
    report.write_text(
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        f"<table border='1'><tr>{header}</tr>{html_rows}</table>"
        f"{trust}"
        f"<h2>Validation vs public score</h2><img src='data:image/png;base64,{scatter}'>"
        f"<h2>Per-epoch validation (solid) and public (dashed) scores, top runs</h2>"
        f"<img src='data:image/png;base64,{curves_png}'></body></html>"
    )
    return [report, table]


def _html_cell(key: str, value) -> str:
    if key == "overfits":
        return OVERFIT_WORDS[value]
    if key == "pruned":
        return "pruned" if value else ""
    return html.escape(value) if isinstance(value, str) else _f(value)
