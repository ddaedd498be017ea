"""A rerun's checks: what differs from the original before it runs, and whether it matched after."""

import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeplab.data import competition_root, dataset_fingerprint
from sweeplab.data.competition import read_competition
from sweeplab.errors import SweeplabError
from sweeplab.models.weights import file_sha256, local_identity
from sweeplab.protocol import Metric, Tag
from sweeplab.runs.provenance import git_state, package_versions
from sweeplab.runs.recorded import Recorded

COMPARED_METRICS = (Metric.TRAIN_LOSS, Metric.TRAIN_ACC, Metric.VAL_LOSS, Metric.VAL_ACC)
SUBMISSION = "submissions/submission_last.csv"


def differences(recorded: Recorded) -> list[str]:
    """What differs from the original run: code, data, packages."""
    found = []
    tags = recorded.tags
    git = git_state()
    if Tag.GIT_COMMIT in tags:
        if git is None:
            found.append(f"git commit: original {tags['sweeplab.git.commit']}, now not a git checkout")
        elif git.commit != tags[Tag.GIT_COMMIT]:
            found.append(f"git commit: original {tags['sweeplab.git.commit']}, now {git.commit}")
        if tags.get(Tag.GIT_DIRTY) == "True":
            found.append("the original ran with uncommitted changes (artifact git/uncommitted.diff)")
    if git is not None and git.dirty:
        found.append("the checkout has uncommitted changes now")
    if Tag.DATA_FINGERPRINT in tags:
        competition = read_competition(competition_root(recorded.config.data), recorded.config.data)
        now = dataset_fingerprint(competition)
        if now != tags[Tag.DATA_FINGERPRINT]:
            found.append(
                f"dataset fingerprint: original {tags['sweeplab.data.fingerprint'][:12]}, now {now[:12]} "
                f"(files in {competition.root} were added, removed or modified)"
            )
    for name, version in package_versions().items():
        original = tags.get(Tag.VERSION_PREFIX + name)
        if original is not None and original != version:
            found.append(f"{name}: original {original}, now {version}")
    found += weights_differences(recorded)
    return found


def weights_differences(recorded: Recorded) -> list[str]:
    """The pretrained weights the rerun would load against the original's (name and file hash)."""
    tags = recorded.tags
    if Tag.WEIGHTS not in tags or recorded.config.model.get("name") != "torchvision":
        return []
    try:
        name, path = local_identity(recorded.config.model)
    except SweeplabError as e:
        return [f"pretrained weights: original {tags[Tag.WEIGHTS]}, now refused ({e})"]
    found = []
    if name != tags[Tag.WEIGHTS]:
        found.append(f"pretrained weights: original {tags[Tag.WEIGHTS]}, now {name} (torchvision's default?)")
    original = tags.get(Tag.WEIGHTS_SHA256)
    if path is None or not path.is_file():
        found.append(f"pretrained weights file {path} is not there now: it will be downloaded")
    elif original and file_sha256(path) != original:
        found.append(
            f"pretrained weights file {path}: original sha256 {original[:12]}, now {file_sha256(path)[:12]}"
        )
    return found


def compare_runs(client: MlflowClient, original: str, new: str) -> tuple[str, bool]:
    """Per-epoch metrics side by side, and the last submission's bytes; (table, identical)."""
    lines = [f"{'metric':<12}{'epoch':>6}  {'original':>14}  {'rerun':>14}  same"]
    identical = True
    for metric in COMPARED_METRICS:
        before = {m.step: m.value for m in client.get_metric_history(original, metric)}
        after = {m.step: m.value for m in client.get_metric_history(new, metric)}
        for epoch in sorted(set(before) | set(after)):
            a, b = before.get(epoch), after.get(epoch)
            same = a == b
            identical &= same
            lines.append(f"{metric:<12}{epoch:>6}  {_fmt(a):>14}  {_fmt(b):>14}  {'yes' if same else 'NO'}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            files = [
                Path(client.download_artifacts(r, SUBMISSION, f"{tmp}/{r}")).read_bytes()
                for r in (original, new)
            ]
            same_predictions = files[0] == files[1]
        except (MlflowException, OSError):
            same_predictions = False
    identical &= same_predictions
    lines.append(f"test predictions ({SUBMISSION}): {'identical' if same_predictions else 'DIFFERENT'}")
    return "\n".join(lines), identical


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"
