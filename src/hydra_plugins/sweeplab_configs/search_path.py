"""Registers sweeplab's schemas, and `experiment=NAME` from the experiments/ folder beside the app's conf/.

Hydra calls search-path plugins whenever it composes (train.py, `initialize_config_dir` in tests and
benchmarks, the command line's early check), so no script has to register anything before composing.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from sweeplab.config import register_configs

FILE = "file://"


def experiments_beside(search_path: ConfigSearchPath) -> Path | None:
    """experiments/ next to the primary config folder (`conf/`), if that folder is on disk and has one."""
    for element in search_path.get_path():
        if element.provider != "main" or not element.path:
            continue
        # @hydra.main gives file://DIR; initialize_config_dir gives the bare DIR; pkg:// has no folder.
        path = element.path.removeprefix(FILE)
        if "://" in path:
            return None
        folder = Path(path).parent / "experiments"
        return folder if folder.is_dir() else None
    return None


class SweeplabConfigsSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        register_configs(experiments_beside(search_path))
