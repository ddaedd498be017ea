"""`sweeplab compare`: validation against Kaggle scores for every run, as a table and an HTML report."""

import ast
import base64
import csv
import html
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from sweeplab.errors import SweeplabError  # noqa: E402
from sweeplab.kaggle.agreement import describe, rank_agreement  # noqa: E402
from sweeplab.protocol import Role, Tag
from sweeplab.study.naming import resolve_study_name

OVERFIT_WINDOW = 3  # epochs: val still rising while the test score falls over the last three
# Params that do not change what is trained (and the data counts, which follow from the data).
HIDDEN_PARAMS = (
    "data.root",
    "data.cache_dir",
    "data.num_workers",
    "tracking.",
    "study.",
    "trainer.progress",
    "data/",
)
PARAMS_WIDTH = 60  # characters of the params column; the CSV and HTML report keep them whole
OVERFIT_WORDS = {True: "YES", False: "no", None: "-"}
SHOWN_KINDS = (Role.REFIT, Role.ENSEMBLE)  # marked beside the run id: they are not trials


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
    pruned: bool  # a study's trial stopped early by the pruner: its scores are from fewer epochs
    kind: str = ""  # trial | refit | ensemble (sweeplab.role); empty for a plain run


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
    # Without validation (a refit), the submission's epoch: the last.
    best_epoch = max(val, key=val.get) if val else _int(run.data.tags.get(Tag.BEST_EPOCH))
    at_best = public.get(best_epoch) if len(public) > 1 else next(iter(public.values()), None)
    private_at_best = private.get(best_epoch) if len(private) > 1 else next(iter(private.values()), None)
    return Row(
        run_id=run_id,
        name=run.info.run_name or "",
        params=" ".join(
            f"{_label(k, varying)}={_short(run.data.params[k])}" for k in varying if k in run.data.params
        ),
        best_val=val[best_epoch] if val else None,
        final_val=val[max(val)] if val else None,
        public=at_best,
        private=private_at_best,
        gap=val[best_epoch] - at_best if val and at_best is not None else None,
        best_val_epoch=best_epoch,
        best_public_epoch=max(public, key=public.get) if len(public) > 1 else None,
        overfits=overfits(val, public),
        pruned=run.data.tags.get(Tag.PRUNED) == "true",
        kind=run.data.tags.get(Tag.ROLE, ""),
    )


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _label(key: str, keys: list[str]) -> str:
    """A param's last name part when no other compared key shares it (optimizer.lr -> lr): a short column."""
    leaf = key.rpartition(".")[2]
    return leaf if sum(k.rpartition(".")[2] == leaf for k in keys) == 1 else key


def _short(value: str) -> str:
    """A param value at 4 significant digits: [0.75, 1.3333333] and [0.75, 1.3333333333333333] are one."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(parsed, float):
        return f"{parsed:.4g}"
    if isinstance(parsed, list | tuple):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in parsed) + "]"
    return value


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
    # A key varies when the runs that have it disagree (a run recorded by hand may hold only a few).
    varying = [k for k in keys if len({_short(r.data.params[k]) for r in runs if k in r.data.params}) > 1]
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
        params = r.params or r.name
        if len(params) > PARAMS_WIDTH:
            params = params[: PARAMS_WIDTH - 1] + "…"
        lines.append(
            (
                r.run_id[:8]
                + (" pruned" if r.pruned else "")
                + (f" {r.kind}" if r.kind in SHOWN_KINDS else ""),
                params,
                _f(r.best_val),
                _f(r.final_val),
                _f(r.public),
                _f(r.private),
                _f(r.gap),
                _f(r.best_val_epoch),
                _f(r.best_public_epoch),
                OVERFIT_WORDS[r.overfits],
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
    client: MlflowClient, rows: list[Row], title: str, folder: Path, curves: int = 5, notes: list[str] = ()
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
        for r in scored:  # each point named by its run, as in the table above
            ax.annotate(
                r.run_id[:8], (r.best_val, r.public), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel("score")
    ax.legend(fontsize=7)
    curves_png = _png(figure)
    html_rows = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(k, v)}</td>" for k, v in asdict(r).items()) + "</tr>" for r in rows
    )
    trust = (
        f"<h2>How far to trust validation</h2><pre>{html.escape(chr(10).join(notes))}</pre>" if notes else ""
    )
    report = folder / "compare.html"
    report.write_text(
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
        f"<table border='1'><tr>{''.join(f'<th>{k}</th>' for k in asdict(rows[0]))}</tr>{html_rows}</table>"
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
        target = parent or _comparison_run(client, experiment)
        for path in paths:
            client.log_artifact(target, str(path), "comparison")
        said += f" (also on run {target}, artifacts comparison/)"
    return format_table(rows) + "\n\n" + "".join(line + "\n" for line in notes) + said


def agreement_lines(client: MlflowClient, rows: list[Row]) -> list[str]:
    """Rank agreement of the study's finished (unpruned) trials' val with public and private scores."""
    trials = [r for r in rows if r.kind == Role.TRIAL and not r.pruned]
    scored = [r for r in trials if r.best_val is not None and r.public is not None]
    metric = client.get_run(scored[0].run_id).data.params.get("data.metric") if scored else None
    found = rank_agreement(
        [r.best_val for r in scored],
        [r.public for r in scored],
        [r.private for r in scored],
        higher_is_better=metric != "log_loss",
    )
    return describe(found, [r.run_id[:8] for r in scored], len(scored))


def _comparison_run(client: MlflowClient, experiment: str) -> str:
    """The experiment's one `comparison` run: made by the first `compare --log`, reused after."""
    exp = client.get_experiment_by_name(experiment)
    found = client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = '{Role.COMPARISON}'", max_results=1)
    if found:
        return found[0].info.run_id
    run_id = client.create_run(
        exp.experiment_id, run_name="comparison", tags={Tag.ROLE: Role.COMPARISON}
    ).info.run_id
    client.set_terminated(run_id)
    return run_id
