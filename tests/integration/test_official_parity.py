"""hydra-optuna-sweeper's behaviours in process: results file, user_attrs, sampler keys, failures, names."""

import logging
import re
import sys

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.trial import TrialState

import hydra_plugins.sweeplab_optuna.config  # noqa: F401 - registers hydra/sweeper=optuna and its groups
from helpers import SWEEPER_APPS as APPS
from helpers.study import launcher, sphere, sweeper_cfg
from sweeplab.errors import ConfigError, SweeplabError
from sweeplab.study.loop import StudyLoop
from sweeplab.study.naming import hashed_study_name, resolve_study_name
from sweeplab.study.official_plugin import official_plugin_problem
from sweeplab.study.results import RESULTS_FILE, four_digits, write_results

FEASIBLE = "helpers.study.feasible"  # a constraints_func by dotpath
RANDOM = "{_target_:optuna.samplers.RandomSampler,seed:3}"


def run_loop(tmp_path, objective=sphere, arguments=(), **changes) -> tuple[StudyLoop, optuna.Study]:
    loop = StudyLoop(
        sweeper_cfg(tmp_path, **changes), OmegaConf.create({}), launcher(objective), list(arguments)
    )
    return loop, loop.run()


# Every key of hydra-optuna-sweeper 1.3's and main's sampler configs, set away from its default.
# Not settable from a config: CMA-ES source_trials (FrozenTrial objects; exclusive with x0).
SAMPLER_KEYS = {
    "gp": [
        "seed=1",
        f"independent_sampler={RANDOM}",
        "n_startup_trials=2",
        "deterministic_objective=true",
        f"constraints_func={FEASIBLE}",
        "warn_independent_sampling=false",
    ],
    "tpe": [
        "seed=1",
        "consider_prior=true",
        "prior_weight=0.5",
        "consider_magic_clip=false",
        "consider_endpoints=true",
        "n_startup_trials=2",
        "n_ei_candidates=8",
        "multivariate=true",
        "group=true",
        "constant_liar=false",
        "warn_independent_sampling=false",
        f"constraints_func={FEASIBLE}",
    ],
    "random": ["seed=1"],
    "cmaes": [
        "seed=1",
        "x0={x:0.5,y:0}",
        "sigma0=2.0",
        "n_startup_trials=1",
        f"independent_sampler={RANDOM}",
        "warn_independent_sampling=false",
        "consider_pruned_trials=true",
        "restart_strategy=ipop",
        "popsize=4",
        "inc_popsize=2",
        "use_separable_cma=true",
    ],
    "cmaes-margin": ["with_margin=true", "lr_adapt=false", "source_trials=null"],
    "cmaes-lr": ["lr_adapt=true"],
    "nsgaii": [
        "seed=1",
        "population_size=2",
        "mutation_prob=0.5",
        "mutation={_target_:optuna.samplers.nsgaii.PolynomialMutation}",
        "crossover={_target_:optuna.samplers.nsgaii.UniformCrossover}",
        "crossover_prob=0.8",
        "swapping_prob=0.4",
        f"constraints_func={FEASIBLE}",
    ],
    "nsgaiii": [
        "seed=1",
        "population_size=2",
        "mutation_prob=0.5",
        "crossover={_target_:optuna.samplers.nsgaii.SBXCrossover}",
        "crossover_prob=0.8",
        "swapping_prob=0.4",
        f"constraints_func={FEASIBLE}",
        "reference_points=[[0.5],[1.0]]",
        "dividing_parameter=2",
    ],
    "qmc": [
        "seed=1",
        "qmc_type=halton",
        "scramble=true",
        f"independent_sampler={RANDOM}",
        "warn_asynchronous_seeding=false",
        "warn_independent_sampling=false",
    ],
    "grid": ["seed=1", "_partial_=true"],
    "bruteforce": ["seed=1", "avoid_premature_stop=true"],
}


def composed_sweeper(tmp_path, group: str, keys: list[str]):
    with initialize_config_dir(str(APPS / "conf"), version_base=None):
        cfg = compose(
            "sphere",
            [
                f"hydra/sweeper/sampler={group}",
                *(f"hydra.sweeper.sampler.{k}" for k in keys),
                f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
                "hydra.sweeper.params={x:'range(-5.5,5.5,step=0.5)',y:'range(-5,6,step=5)'}",
                "hydra.sweeper.n_trials=3",
            ],
            return_hydra_config=True,
        )
    return cfg.hydra.sweeper


@pytest.mark.parametrize("name", SAMPLER_KEYS)
def test_every_sampler_group_runs_three_trials_with_every_key_set(tmp_path, name):
    sweeper = composed_sweeper(tmp_path, name.split("-")[0], SAMPLER_KEYS[name])
    for key in SAMPLER_KEYS[name]:
        assert OmegaConf.select(sweeper.sampler, key.split("=")[0]) is not None or key.endswith("null")

    def objective(params):
        return float(params["x"]) ** 2 + float(params["y"]) ** 2

    loop = StudyLoop(sweeper, OmegaConf.create({}), launcher(objective), [])
    study = loop.run()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


@pytest.mark.parametrize(
    ("group", "keys", "announced"),
    [
        (
            "tpe",
            ["consider_prior=true", "consider_endpoints=true"],
            "`consider_endpoints` has been deprecated",
        ),
        ("cmaes", ["restart_strategy=ipop", "inc_popsize=2"], "`restart_strategy` has been deprecated"),
    ],
)
def test_keys_optuna_5_deprecated_or_ignores_are_accepted_and_said_once(
    tmp_path, caplog, group, keys, announced
):
    sweeper = composed_sweeper(tmp_path, group, keys)
    with caplog.at_level(logging.WARNING):
        StudyLoop(sweeper, OmegaConf.create({}), launcher(sphere), []).run()
    lines = [r.getMessage() for r in caplog.records if "accepted for old configs" in r.getMessage()]
    assert len(lines) == 1 and announced in lines[0]


def test_motpe_composes_with_its_keys_and_is_refused_in_one_line(tmp_path):
    sweeper = composed_sweeper(tmp_path, "motpe", ["n_ehvi_candidates=12", "seed=1"])
    with pytest.raises(ConfigError) as refused:
        StudyLoop(sweeper, OmegaConf.create({}), launcher(sphere), [])
    message = str(refused.value)
    assert "\n" not in message and "sampler was removed in Optuna 4.0" in message
    assert "hydra/sweeper/sampler=nsgaii" in message and "multivariate=true" in message
    assert not (tmp_path / "optuna.db").exists()  # refused before the storage was opened


def test_a_sampler_whose_package_is_missing_is_refused_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cmaes", None)  # find_spec raises ValueError for a None entry
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name == "cmaes" else object())
    with pytest.raises(ConfigError, match=r"needs cmaes: pip install cmaes"):
        StudyLoop(
            sweeper_cfg(tmp_path, sampler={"_target_": "optuna.samplers.CmaEsSampler"}),
            OmegaConf.create({}),
            launcher(sphere),
            [],
        )


def test_fixed_parameters_are_user_attrs_before_the_custom_search_space(tmp_path, monkeypatch):
    seen = []

    def configure(cfg, trial):  # the official docs' hook: z only when it is not fixed
        seen.append(dict(trial.user_attrs))
        if "z" not in trial.user_attrs:
            trial.suggest_float("z", 0, 1)

    monkeypatch.setattr("sweeplab.study.opening.get_method", lambda path: configure)
    url = "postgresql://user:secret@db/optuna"
    loop, study = run_loop(
        tmp_path,
        arguments=["z=0.25", f"+url={url}"],
        custom_search_space="any.configure",
        n_trials=2,
    )
    # The value as the official plugin records it (Hydra-escaped), password redacted; no sweeplab.* yet.
    assert seen[0] == {"z": "0.25", "+url": "postgresql\\://user\\:***@db/optuna"}
    for t in study.trials:
        assert "z" not in t.params and t.user_attrs["z"] == "0.25"
        assert "sweeplab.worker" in t.user_attrs and "secret" not in str(t.user_attrs)


def test_max_failure_rate_1_counts_failures_toward_n_trials_and_ends_normally(tmp_path, caplog):
    def objective(params):
        raise RuntimeError("cfg.error is True")

    with caplog.at_level(logging.INFO):
        loop, study = run_loop(tmp_path, objective, max_failure_rate=1.0, n_trials=5, n_jobs=2)
        assert write_results(study, tmp_path / "sweep") is None  # no best trial: no file, and a line
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 5  # exactly n_trials attempts
    assert "5 trials of this sweep failed (hydra.sweeper.max_failure_rate=1.0)" in caplog.text
    assert "No trial completed" in caplog.text


def test_results_file_and_log_lines_single_objective_with_failed_and_pruned_trials(tmp_path, caplog):
    outcomes = iter([RuntimeError("boom"), optuna.TrialPruned("early"), 3.0, 1.0])

    def objective(params):
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    loop, study = run_loop(tmp_path, objective, n_trials=3, n_jobs=1, max_failure_rate=0.5)
    with caplog.at_level(logging.INFO):
        path = write_results(study, tmp_path / "sweep")
    results = OmegaConf.load(path)
    best = study.best_trial
    assert path.name == RESULTS_FILE and results.name == "optuna"
    assert results.best_params == best.params and results.best_value == best.value == 1.0
    assert f"Best parameters: {best.params}" in caplog.text and "Best value: 1.0" in caplog.text


def test_results_file_and_log_lines_multi_objective(tmp_path, caplog):
    def objective(params):
        x = float(params["x"])
        return [x**2, (x - 1) ** 2]

    loop, study = run_loop(tmp_path, objective, direction=["minimize", "minimize"], n_trials=4)
    with caplog.at_level(logging.INFO):
        results = OmegaConf.load(write_results(study, tmp_path / "sweep"))
    front = study.best_trials
    assert results.name == "optuna" and "best_value" not in results
    assert [dict(s.params) for s in results.solutions] == [t.params for t in front]
    assert [list(s["values"]) for s in results.solutions] == [t.values for t in front]
    assert f"Number of Pareto solutions: {len(front)}" in caplog.text
    assert (
        f"    Values: {[four_digits(v) for v in front[0].values]}, Params: {front[0].params}" in caplog.text
    )


def test_unnamed_study_follows_the_search_space_and_a_named_one_refuses(tmp_path, caplog):
    space = {"x": "interval(-2, 2)", "y": "choice(0, 1)"}
    with caplog.at_level(logging.INFO):
        first, _ = run_loop(tmp_path, study_name=None, n_trials=2, params=space)
    assert first.study_name == "study-x-y"  # the job's name and the keys it sweeps
    assert f"New study {first.study_name}: hydra.sweeper.study_name is unset" in caplog.text
    other, _ = run_loop(tmp_path, study_name=None, n_trials=2, params={**space, "y": "choice(0, 2)"})
    maximize, _ = run_loop(tmp_path, study_name=None, n_trials=2, params=space, direction="maximize")
    # Other ranges or another direction over the same keys: a study of their own, a suffix only then.
    assert re.fullmatch(r"study-x-y-[0-9a-f]{4}", other.study_name)
    assert (
        re.fullmatch(r"study-x-y-[0-9a-f]{4}", maximize.study_name)
        and maximize.study_name != other.study_name
    )
    back, study = run_loop(tmp_path, study_name=None, n_trials=3, params=space)
    assert back.study_name == first.study_name and not back.created and len(study.trials) == 3
    run_loop(tmp_path, n_trials=1, params=space)  # named "loop"
    with pytest.raises(ConfigError, match="was created with another search space"):
        run_loop(tmp_path, n_trials=1, params={"x": "interval(-1, 1)"})


@pytest.mark.parametrize(
    ("name", "names", "expected"),
    [
        ("sphere-0123abcd", ["sphere-0123abcd", "sphere-89abcdef"], "sphere-0123abcd"),  # as printed
        ("sphere", ["sphere-0123abcd", "spheres-89abcdef"], "sphere-0123abcd"),  # the job's only one
        ("sphere", ["sphere"], "sphere"),  # named by the user
        ("planet", ["planet-lr-batch_size", "other-lr"], "planet-lr-batch_size"),  # today's default name
        ("sphere", ["spheres-x", "other-0123abcd"], None),
    ],
)
def test_resolve_study_name(name, names, expected):
    assert resolve_study_name(name, names) == expected


def test_resolve_study_name_refuses_an_ambiguous_job_name():
    with pytest.raises(SweeplabError, match="'sphere' has 2 studies, one per search space"):
        resolve_study_name("sphere", ["sphere-0123abcd", "sphere-89abcdef"])
    assert hashed_study_name("a", "{}", ["minimize"]) != hashed_study_name("a", "{}", ["maximize"])


def test_official_plugin_installed_beside_is_detected_from_its_metadata(tmp_path, monkeypatch):
    assert official_plugin_problem() is None
    info = tmp_path / "site" / "hydra_optuna_sweeper-1.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hydra-optuna-sweeper\nVersion: 1.3.0\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    problem = official_plugin_problem()
    assert "\n" not in problem
    assert problem.startswith("hydra-optuna-sweeper 1.3.0 is installed beside sweeplab")
    assert "pip uninstall -y hydra-optuna-sweeper && pip install 'optuna>=4,<6'" in problem
