"""Makes hydra/sweeper=optuna sweeplab's even when hydra-optuna-sweeper registers the same name."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from hydra_plugins.sweeplab_optuna.config import store_configs
from sweeplab.study.official_plugin import official_plugin_problem


class SweeplabOptunaSearchPath(SearchPathPlugin):
    """Hydra imports plugins in path order, so either plugin's configs may register last. Hydra calls
    search-path plugins after importing every plugin: storing ours again here makes the winner known,
    and sweeplab's sweeper then refuses to start with the one line that says what to do."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if official_plugin_problem() is not None:
            store_configs()
