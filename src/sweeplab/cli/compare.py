"""`sweeplab compare`: validation against Kaggle scores for every run, as a table and an HTML report."""

import base64
import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from sweeplab.errors import SweeplabError  # noqa: E402
from sweeplab.protocol import Role, Tag
from sweeplab.study.naming import resolve_study_name  # noqa: E402

OVERFIT_WINDOW = 3  # epochs: val still rising while the test score falls over the last three
HIDDEN_PARAMS = ("data.root", "data.cache_dir", "tracking.", "study.", "trainer.progress")


@dataclass
class Row:
    run_id: str
    name: str
    params: str  # the parameters that differ between the compared runs
    best_val: float | None
    final_val: float | None
    public: float | None  # at the best-validation epoch (the submission_best.csv a user would send)
    private: float | None
    gap: float | None  # best_val - public
    best_val_epoch: int | None
    best_public_epoch: int | None
    overfits: bool | None  # None: not enough per-epoch test scores to tell


def _history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def overfits(val: dict[int, float], test: dict[int, float], window: int = OVERFIT_WINDOW) -> bool | None:
    """Val still rising while the test score falls over the last `window` epochs."""
    epochs = sorted(set(val) & set(test))[-window:]
    if len(epochs) < window:
        return None
    first, last = epochs[0], epochs[-1]
    return val[last] > val[first] and test[last] < test[first]


def _row(client: MlflowClient, run, varying: list[str]) -> Row:
    run_id = run.info.run_id
    val = _history(client, run_id, "val/score") or _history(client, run_id, "val/acc")
    public = _history(client, run_id, "kaggle/public")
    private = _history(client, run_id, "kaggle/private")
    best_epoch = max(val, key=val.get) if val else None
    at_best = public.get(best_epoch) if len(public) > 1 else next(iter(public.values()), None)
    private_at_best = private.get(best_epoch) if len(private) > 1 else next(iter(private.values()), None)
    return Row(
        run_id=run_id,
        name=run.info.run_name or "",
        params=" ".join(f"{k}={run.data.params[k]}" for k in varying if k in run.data.params),
        best_val=val[best_epoch] if val else None,
        final_val=val[max(val)] if val else None,
        public=at_best,
        private=private_at_best,
        gap=val[best_epoch] - at_best if val and at_best is not None else None,
        best_val_epoch=best_epoch,
        best_public_epoch=max(public, key=public.get) if len(public) > 1 else None,
        overfits=overfits(val, public),
    )


def collect(client: MlflowClient, experiment: str, study: str | None = None, top: int | None = None):
    """(rows best-first, parent run id or None, per-run histories for the plots)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise SweeplabError(f"no experiment {experiment!r} in {client.tracking_uri}; experiments: {names}")
    runs = [
        r
        for r in client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'")
        if r.data.tags.get(Tag.ROLE) not in (Role.STUDY, Role.COMPARISON)
    ]
    parent = None
    if study is not None:
        parents = client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.STUDY}'")
        by_name = {r.data.tags.get(Tag.STUDY): r.info.run_id for r in parents}
        # The printed name, or the job's name when one study (one search space) carries it.
        name = resolve_study_name(study, [n for n in by_name if n])
        if name is None:
            raise SweeplabError(f"no study {study!r} in experiment {experiment!r}")
        runs = [r for r in runs if r.data.tags.get(Tag.STUDY) == name]
        parent = by_name[name]
    if not runs:
        raise SweeplabError(f"no finished runs to compare in experiment {experiment!r}")
    keys = sorted({k for r in runs for k in r.data.params if not k.startswith(HIDDEN_PARAMS)})
    varying = [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]
    rows = sorted((_row(client, r, varying) for r in runs), key=lambda row: -(row.best_val or float("-inf")))
    return rows[:top] if top else rows, parent


def format_table(rows: list[Row]) -> str:
    header = (
        "run",
        "params",
        "best val",
        "final val",
        "public",
        "private",
        "gap",
        "ep val",
        "ep pub",
        "overfit",
    )
    lines = [header]
    for r in rows:
        flag = {True: "YES", False: "no", None: "-"}[r.overfits]
        lines.append(
            (
                r.run_id[:8],
                r.params or r.name,
                _f(r.best_val),
                _f(r.final_val),
                _f(r.public),
                _f(r.private),
                _f(r.gap),
                _f(r.best_val_epoch),
                _f(r.best_public_epoch),
                flag,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


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


def write_report(
    client: MlflowClient, rows: list[Row], title: str, folder: Path, curves: int = 5
) -> list[Path]:
    """compare.html (val vs public scatter with the diagonal; curves of the top runs) and compare.csv."""
    table = folder / "compare.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    scored = [r for r in rows if r.best_val is not None and r.public is not None]
    figure, ax = plt.subplots(figsize=(5, 5))
    if scored:
        ax.scatter([r.best_val for r in scored], [r.public for r in scored])
        low = min(min(r.best_val, r.public) for r in scored)
        high = max(max(r.best_val, r.public) for r in scored)
        ax.plot([low, high], [low, high], "k--", lw=1, label="public = val")
        ax.legend()
    ax.set_xlabel("best validation score")
    ax.set_ylabel("public score at that epoch")
    scatter = _png(figure)
    figure, ax = plt.subplots(figsize=(9, 4))
    for r in rows[:curves]:
        val = _history(client, r.run_id, "val/score")
        public = _history(client, r.run_id, "kaggle/public")
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
    ax.set_ylabel("score")
    ax.legend(fontsize=7)
    curves_png = _png(figure)
    html_rows = "".join(
        "<tr>"
        + "".join(f"<td>{_f(v) if not isinstance(v, str) else v}</td>" for v in asdict(r).values())
        + "</tr>"
        for r in rows
    )
    report = folder / "compare.html"
    report.write_text(
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        f"<table border='1'><tr>{''.join(f'<th>{k}</th>' for k in asdict(rows[0]))}</tr>{html_rows}</table>"
        f"<h2>Validation vs public score</h2><img src='data:image/png;base64,{scatter}'>"
        f"<h2>Per-epoch validation (solid) and public (dashed) scores, top runs</h2>"
        f"<img src='data:image/png;base64,{curves_png}'></body></html>"
    )
    return [report, table]


def compare(client: MlflowClient, experiment: str, study: str | None, top: int | None, out: Path) -> str:
    """Print-ready table; the report goes to `out` and, as artifacts, to the study's parent run or a new
    comparison run."""
    rows, parent = collect(client, experiment, study, top)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_report(
        client, rows, f"sweeplab compare: {experiment}" + (f" / {study}" if study else ""), out
    )
    target = parent
    if target is None:
        exp = client.get_experiment_by_name(experiment)
        target = client.create_run(
            exp.experiment_id, run_name="comparison", tags={Tag.ROLE: Role.COMPARISON}
        ).info.run_id
        client.set_terminated(target)
    for path in paths:
        client.log_artifact(target, str(path), "comparison")
    return format_table(rows) + f"\n\nreport: {paths[0]} (also on run {target}, artifacts comparison/)"
