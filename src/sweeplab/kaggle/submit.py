"""Submit a run's submission file to Kaggle through the official `kaggle` package and wait for its score."""

import os
import sys
import tempfile
import time
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.errors import SweeplabError
from sweeplab.kaggle.runs import record_scores
from sweeplab.protocol import Tag

CREDENTIALS_HELP = (
    "no Kaggle credentials: put kaggle.json (from kaggle.com -> Settings -> API) in ~/.kaggle/, "
    "or set KAGGLE_USERNAME and KAGGLE_KEY, or KAGGLE_API_TOKEN"
)


def has_credentials() -> bool:
    """Kaggle's standard places, checked before the package is imported (older versions exit on import)."""
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return bool(
        (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
        or os.environ.get("KAGGLE_API_TOKEN")
        or (folder / "kaggle.json").is_file()
        or (folder / "access_token").is_file()
    )


def kaggle_api():
    """The official client, authenticated; a clear error instead of the package's exit."""
    if not has_credentials():
        raise SweeplabError(CREDENTIALS_HELP)
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi

        api = KaggleApi()
        api.authenticate()
    except ImportError as e:
        raise SweeplabError("the `kaggle` package is not installed: pip install kaggle") from e
    except (Exception, SystemExit) as e:  # the package exits when authentication fails
        raise SweeplabError(f"Kaggle authentication failed: {CREDENTIALS_HELP}") from e
    return api


def _progress(text: str) -> None:
    print(f"\r{text}", end="", file=sys.stderr, flush=True)


def _find_submission(api, competition: str, ref: int, run_id: str):
    """This run's submission in the competition's list (by its ref, or the run id in its description)."""
    try:
        submissions = api.competition_submissions(competition) or []
    except Exception as e:  # noqa: BLE001 - network and HTTP errors of the client
        raise SweeplabError(f"cannot list the submissions of {competition}: {e}") from e
    return next((s for s in submissions if s.ref == ref or run_id in (s.description or "")), None)


def submit_run(
    client: MlflowClient,
    run_id: str,
    competition: str,
    message: str = "",
    epoch: str = "best",
    timeout: float = 600.0,
    poll_interval: float = 10.0,
    api=None,
) -> dict[str, float]:
    """Upload the run's submission, wait until Kaggle scores it, log the scores on the run."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, f"submissions/submission_{epoch}.csv", tmp)
        except (MlflowException, OSError) as e:
            raise SweeplabError(
                f"run {run_id} has no submissions/submission_{epoch}.csv artifact in {client.tracking_uri}"
            ) from e
        api = api or kaggle_api()
        # The run id in the description finds the submission again, whatever the listing's order.
        description = f"{message} [sweeplab run {run_id}]".strip()
        try:
            response = api.competition_submit(path, description, competition, quiet=True)
        except Exception as e:  # noqa: BLE001 - network and HTTP errors of the client
            raise SweeplabError(f"Kaggle refused the submission to {competition}: {e}") from e
    # competition_submit reports a failed upload in its message instead of raising.
    ref = getattr(response, "ref", 0)
    if not ref:
        raise SweeplabError(f"Kaggle did not accept the submission to {competition}: {response.message}")
    started = time.monotonic()
    while True:
        mine = _find_submission(api, competition, ref, run_id)
        status = getattr(getattr(mine, "status", None), "name", "PENDING")
        elapsed = time.monotonic() - started
        _progress(f"waiting for Kaggle to score submission {ref}: {status} ({elapsed:.0f} s)")
        if status == "ERROR":
            print(file=sys.stderr)
            raise SweeplabError(f"Kaggle could not score submission {ref}: {mine.error_description}")
        # Scores come as strings: empty until scored, the private one until the competition ends.
        if status == "COMPLETE" and mine.public_score:
            print(file=sys.stderr)
            private = float(mine.private_score) if mine.private_score else None
            return record_scores(
                client,
                run_id,
                float(mine.public_score),
                private,
                epoch,
                source="kaggle",
                tags={Tag.KAGGLE_SUBMISSION: str(ref), Tag.KAGGLE_COMPETITION: competition},
            )
        if elapsed >= timeout:
            print(file=sys.stderr)
            raise SweeplabError(
                f"Kaggle has not scored submission {ref} after {timeout:.0f} s; the run is unchanged. "
                f"Record the score later with: sweeplab kaggle record {run_id} --public SCORE"
            )
        time.sleep(poll_interval)
