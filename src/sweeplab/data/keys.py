"""The data keys that settle what discovery cannot, read from a data config that may predate them."""

import logging
from dataclasses import dataclass, fields, replace

from sweeplab.errors import ConfigError
from sweeplab.scoring.orientation import TAG_SET_METRICS

log = logging.getLogger(__name__)

TASKS = ("auto", "multiclass", "multilabel")


@dataclass(frozen=True)
class DataKeys:
    task: str = "auto"
    label_delim: str = " "
    labels_csv: str | None = None
    id_column: str | None = None
    label_column: str | tuple[str, ...] | None = None  # a tuple: one-hot columns, one per class
    train_dir: str | None = None
    test_dir: str | None = None
    image_suffix: str | None = None  # ".png": appended to ids that name files without their extension
    max_corrupt_fraction: float = 0.05
    metric: str | None = None  # the competition's: a metric of tag sets makes data.task=auto multi-label

    @classmethod
    def from_cfg(cls, cfg) -> "DataKeys":
        """The keys of a `data` config (a DictConfig, a dict or None); a recorded config may lack some."""
        if cfg is None:
            return cls()
        values = {f.name: cfg.get(f.name) for f in fields(cls)}
        values = {name: value for name, value in values.items() if value is not None}
        if "task" in values:
            values["task"] = str(values["task"])
            if values["task"] not in TASKS:
                raise ConfigError(f"data.task={values['task']} is unknown; valid: {', '.join(TASKS)}")
        if "metric" in values:
            values["metric"] = str(values["metric"])
        column = values.get("label_column")
        if column is not None and not isinstance(column, str):
            values["label_column"] = tuple(str(c) for c in column)
            if len(values["label_column"]) == 1:  # a list of one column is that column
                values["label_column"] = values["label_column"][0]
        suffix = values.get("image_suffix")
        if suffix and not suffix.startswith("."):
            values["image_suffix"] = "." + suffix  # png -> .png
        return cls(**values)


def tag_metric_task(keys: DataKeys) -> DataKeys:
    """data.task=auto under a metric of tag sets (mean_f2) is multi-label, said in one line."""
    if keys.task != "auto" or keys.metric not in TAG_SET_METRICS:
        return keys
    log.info(
        "data.metric=%s scores sets of tags, so the labels are read as tags (data.task=auto; for one "
        "class per value set data.task=multiclass and a metric of labels)",
        keys.metric,
    )
    return replace(keys, task="multilabel")
