"""Run ids as users type them: any unique prefix (`sweeplab compare` prints 8 characters)."""

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.runs.redact import redact

FULL_LENGTH = 32  # MLflow's run ids are 32 hex digits
PAGE = 10_000


def resolve_run_id(client: MlflowClient, given: str) -> str:
    """The one run whose id starts with `given`; MLflow cannot search by prefix, so the ids are listed
    (about 0.1 s for 10,000 runs in SQLite, the size of a busy project store)."""
    if len(given) == FULL_LENGTH:
        return given
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    matches, token = [], None
    while True:
        page = client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=PAGE, page_token=token)
        matches += [r.info.run_id for r in page if r.info.run_id.startswith(given.lower())]
        token = page.token
        if not token:
            break
    if not matches:
        raise SweeplabError(
            f"not found: no run id starts with {given!r} in {redact(client.tracking_uri)}; "
            "`sweeplab compare EXPERIMENT` lists the runs, --tracking-uri names another store"
        )
    if len(matches) > 1:
        shown = ", ".join(m[: len(given) + 4] + "…" for m in matches[:3])
        raise SweeplabError(
            f"ambiguous: {len(matches)} runs start with {given!r} ({shown}); give more characters"
        )
    return matches[0]
