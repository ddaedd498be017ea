"""The layer order of src/sweeplab (docs/development.md, The layers), held by an AST pass over every module,
lazy imports included: a module imports only from its own layer or below; nothing below `study` imports
Optuna; no sweeplab module imports a Hydra plugin; offline.py (the bundle's predict.py) imports nothing
from sweeplab."""

import ast
from pathlib import Path

import pytest

import sweeplab

PACKAGE = Path(sweeplab.__file__).parent
# Lowest first; each name is a top-level module or package of sweeplab. `__init__`, the package's face,
# is base: every `import sweeplab.x` runs it first.
LAYERS = (
    ("compat", "protocol", "errors", "config", "device", "offline", "__init__"),
    ("data", "scoring", "objective"),
    ("models",),
    ("runs",),
    ("training",),
    ("study",),
    ("kaggle",),
    ("auto",),
    ("cli", "app"),
)
LAYER = {name: n for n, names in enumerate(LAYERS) for name in names}
OPTUNA_FROM = LAYER["study"]  # the lowest layer that may import optuna
STANDALONE = "offline"  # shipped as the bundle's predict.py, where sweeplab is not installed


def top_level(module: str) -> str:
    """sweeplab.data.images -> data; sweeplab -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file at any depth, relative ones resolved; `from sweeplab
    import data` counts as sweeplab.data."""
    module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
    parent = (module if path.name == "__init__.py" else module.rpartition(".")[0]).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*parent[: len(parent) - node.level + 1], *([node.module] if node.module else [])]
                )
            names = [f"{base}.{a.name}" for a in node.names] if base == "sweeplab" else [base]
            found += [(node.lineno, name) for name in names]
    return found


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """Each import of `path` that breaks the order: `file:line imports X: the rule`."""
    relative = path.relative_to(package.parent)
    own = top_level(".".join(relative.with_suffix("").parts))
    if own not in LAYER:
        return [f"{relative}: sweeplab.{own} has no layer: add it to LAYERS and to docs/development.md"]
    found = []
    for line, module in imports(path, package):
        where, root = f"{relative}:{line} imports {module}", module.split(".")[0]
        if root == "hydra_plugins":
            found.append(f"{where}: no sweeplab module imports a Hydra plugin (plugins import sweeplab)")
        elif root == "optuna" and LAYER[own] < OPTUNA_FROM:
            found.append(f"{where}: only study/ and the layers above it import optuna, not sweeplab.{own}")
        elif root == "sweeplab" and own == STANDALONE:
            found.append(f"{where}: offline.py is the bundle's predict.py and imports nothing from sweeplab")
        elif root == "sweeplab" and LAYER.get(top_level(module), -1) > LAYER[own]:
            other = top_level(module)
            found.append(
                f"{where}: sweeplab.{own} (layer {LAYER[own]}) imports only from its layer or below, and "
                f"sweeplab.{other} is layer {LAYER[other]}"
            )
    return found


def test_every_module_imports_only_from_its_layer_or_below():
    found = [v for path in sorted(PACKAGE.rglob("*.py")) for v in violations(path)]
    assert not found, "\n".join(found)


def test_every_top_level_module_and_package_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert names - {"__pycache__"} <= set(LAYER)


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("models/features.py", "from sweeplab.training.trainer import Trainer\n", "is layer 4"),
        ("data/images.py", "def decode():\n    from sweeplab.kaggle import report\n", "is layer 6"),
        ("scoring/measures.py", "from sweeplab import models\n", "is layer 2"),
        ("data/cache.py", "from ..runs import tracking\n", "is layer 3"),
        ("compat.py", "import optuna\n", "only study/"),
        ("training/job.py", "from optuna import TrialPruned\n", "only study/"),
        ("study/slots.py", "from hydra_plugins.sweeplab_pool import pools\n", "Hydra plugin"),
        ("offline.py", "from sweeplab.errors import SweeplabError\n", "imports nothing from sweeplab"),
        ("newstage/thing.py", "import os\n", "has no layer"),
    ],
)
def test_an_import_against_the_order_is_named_with_its_line_and_rule(module, source, rule, tmp_path):
    path = tmp_path / "sweeplab" / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    (found,) = violations(path, tmp_path / "sweeplab")
    assert found.startswith(f"sweeplab/{module}") and rule in found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("study/loop.py", "import optuna\nfrom sweeplab.training.job import run\n"),
        (
            "scoring/submission.py",
            "from sweeplab.data.competition import Competition\nfrom . import measures\n",
        ),
        ("device.py", "from sweeplab.offline import autocast\n"),
        (
            "cli/predict.py",
            "def run():\n    from sweeplab.kaggle.folder_submission import folder_competition\n",
        ),
    ],
)
def test_imports_down_and_across_a_layer_are_allowed(module, source, tmp_path):
    path = tmp_path / "sweeplab" / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert violations(path, tmp_path / "sweeplab") == []
