"""A run's model as an MLflow model: `mlflow.pyfunc.load_model("runs:/ID/model").predict(...)` takes
image file paths and returns the class probabilities, with the run's preprocessing and TTA.

A pyfunc with a loader module (this one) rather than a pickled PythonModel: MLflow copies the sweeplab
package into the model (code/), and `_load_pyfunc` rebuilds the Predictors from the weights files beside
it (an ensemble's: under members/) and the spec in data/. Saved with explicit pip requirements and a
given signature, so MLflow runs no subprocess to infer requirements and does not load the model to infer
a signature.
"""

import functools
import importlib.metadata
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import sweeplab
from sweeplab.device import resolve_device
from sweeplab.models.inference import predict_packaged
from sweeplab.models.packaged import SPEC_FILE, EnsembleSpec, ModelSpec, Packaged, load_packaged
from sweeplab.protocol import Artifact

IMAGE_COLUMN = "image"
# What loading the model imports (sweeplab's own dependencies on that path), pinned to the versions
# that trained it; MLflow adds itself.
REQUIREMENTS = ("torch", "torchvision", "numpy", "pillow", "pandas", "hydra-core", "omegaconf", "tqdm")


def requirements(models: list[ModelSpec]) -> list[str]:
    """REQUIREMENTS, and timm for timm models (an ensemble mixes with numpy alone: sweeplab.offline.mix)."""
    names = [*REQUIREMENTS]
    names += ["timm"] if any(spec.model.get("name") == "timm" for spec in models) else []
    return [_pinned(name) for name in names]


@functools.cache  # reading a package's metadata takes ~2 ms; a sweep process logs many models
def _pinned(name: str) -> str:
    # torch 2.14.1+cu130 -> torch==2.14.1: a local version (the CUDA build) is not on PyPI.
    return f"{name}=={importlib.metadata.version(name).split('+')[0]}"


def save_mlflow_model(
    folder: Path, spec_file: Path, spec: ModelSpec | EnsembleSpec, members: Sequence[ModelSpec] = ()
) -> None:
    """MLmodel, the environment files, the sweeplab code and the spec into `folder` (new or empty);
    an ensemble's `members` are its members' specs."""
    import mlflow.pyfunc
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    from sweeplab.compat import no_requirement_check  # patches MLflow: not on the loading path

    signature = ModelSignature(
        # One unnamed string column: a DataFrame's `image` column and a plain list of paths both pass.
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([ColSpec("float", name) for name in spec.classes]),
    )
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.WARNING)  # not "Validating input example against model signature" per run
    try:
        with no_requirement_check():
            mlflow.pyfunc.save_model(
                path=str(folder),
                loader_module=__name__,
                data_path=str(spec_file),
                code_paths=[str(Path(sweeplab.__file__).parent)],
                pip_requirements=requirements(list(members) or [spec]),
                signature=signature,
                input_example=pd.DataFrame({IMAGE_COLUMN: ["test/1.jpg"]}),
                mlflow_model=Model(run_id=spec.run_id, artifact_path=Artifact.MODEL),
            )
    finally:
        pyfunc_log.setLevel(level)


class ImagesModel:
    """What `mlflow.pyfunc.load_model` returns the predictions of: image paths in, probabilities out."""

    def __init__(self, packaged: Packaged):
        self.packaged = packaged
        self.device = resolve_device("auto")

    def predict(self, model_input, params=None) -> pd.DataFrame:
        """A DataFrame with a column `image` (or one column) of image paths, or a list of paths ->
        one row of class probabilities per image, the class names as columns. An ensemble that mixes by
        `rank` ranks within the images given, as its submission ranked within the test set: give them
        all at once."""
        if isinstance(model_input, pd.DataFrame):
            column = IMAGE_COLUMN if IMAGE_COLUMN in model_input else model_input.columns[0]
            model_input = model_input[column]
        files = [Path(str(p)) for p in model_input]
        spec = self.packaged.spec
        probs = np.zeros((0, len(spec.classes)), dtype=np.float32)
        if files:
            probs, _ = predict_packaged(self.packaged, files, self.device, progress=False)
        return pd.DataFrame(probs, columns=spec.classes)


def _load_pyfunc(data_path: str) -> ImagesModel:
    """MLflow's entry point: data_path is the spec, <model folder>/data/sweeplab_model.json."""
    folder = Path(data_path).parents[len(Path(SPEC_FILE).parts) - 1]
    return ImagesModel(load_packaged(folder))
