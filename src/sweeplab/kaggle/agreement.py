"""How far a study's validation ranking can be trusted: rank agreement of val with the leaderboard.

Spearman and Kendall correlations between the trials' validation scores and their public (and private)
scores, with bootstrap confidence intervals over the trials, and the winner's curse: where the trial
that validation picked lands on the private leaderboard. The leaderboard's own agreement, public with
private, is the noise floor: validation that ranks the trials as well as the public board does is as
good a guide as a user can have.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau, spearmanr

MIN_TRIALS = 5  # with fewer, one swapped pair moves Spearman by 0.3 or more: nothing to tell
BOOTSTRAP = 1000  # resamples of the trials; ~0.5 s for two boards and two statistics
CONFIDENCE = 0.95


@dataclass
class Correlation:
    board: str  # public | private
    spearman: float
    kendall: float
    spearman_ci: tuple[float, float]
    kendall_ci: tuple[float, float]


@dataclass
class Agreement:
    trials: int
    correlations: list[Correlation]
    winner: int  # index of the trial validation picked
    winner_private_rank: int | None  # 1 = the best private score among the trials
    private_known: int
    winner_gap: float | None  # its val - private
    leaderboards: Correlation | None = None  # public ~ private: how far the public board predicts private


def correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Spearman, Kendall tau-b); NaN where a side is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    return float(spearmanr(x, y).statistic), float(kendalltau(x, y).statistic)


def bootstrap_cis(
    x: np.ndarray, y: np.ndarray, n: int = BOOTSTRAP, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of Spearman and Kendall over resamples of the pairs (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = np.array([correlations(x[i], y[i]) for i in rng.integers(0, len(x), (n, len(x)))])
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def rank_agreement(
    val: list[float],
    public: list[float],
    private: list[float | None] | None = None,
    *,
    higher_is_better: bool = True,
    bootstrap: int = BOOTSTRAP,
) -> Agreement | None:
    """The agreement over trials (val and public known for each); None with fewer than MIN_TRIALS."""
    if len(val) < MIN_TRIALS:
        return None
    val_a, boards = np.asarray(val, float), [("public", np.asarray(public, float))]
    known = [i for i, p in enumerate(private or []) if p is not None]
    if len(known) >= MIN_TRIALS:
        boards.append(("private", np.asarray([private[i] for i in known], float)))
    found = []
    for board, scores in boards:
        x = val_a if board == "public" else val_a[known]
        spearman, kendall = correlations(x, scores)
        s_ci, k_ci = bootstrap_cis(x, scores, bootstrap)
        found.append(Correlation(board, spearman, kendall, s_ci, k_ci))
    leaderboards = None
    if len(boards) == 2:
        public_known = boards[0][1][known]
        spearman, kendall = correlations(public_known, boards[1][1])
        s_ci, k_ci = bootstrap_cis(public_known, boards[1][1], bootstrap)
        leaderboards = Correlation("public ~ private", spearman, kendall, s_ci, k_ci)
    sign = 1 if higher_is_better else -1
    winner = int(np.argmax(sign * val_a))
    rank = gap = None
    if private is not None and private[winner] is not None:
        mine = private[winner]
        rank = 1 + sum(1 for i in known if sign * private[i] > sign * mine)
        gap = float(val_a[winner] - mine)
    return Agreement(len(val), found, winner, rank, len(known), gap, leaderboards)


def describe(agreement: Agreement | None, names: list[str], scored: int) -> list[str]:
    """Report lines: the correlations with their intervals and the winner's private rank."""
    if agreement is None:
        return [
            f"validation vs leaderboard: too few trials to tell ({scored} finished trials with a public "
            f"score; {MIN_TRIALS} needed)"
        ]
    lines = [
        f"validation vs leaderboard over {agreement.trials} finished trials ({CONFIDENCE:.0%} bootstrap CI):"
    ]
    for c in agreement.correlations:
        lines.append(
            f"  val ~ {c.board}: Spearman {c.spearman:+.2f} {_ci(c.spearman_ci)}"
            f"  Kendall {c.kendall:+.2f} {_ci(c.kendall_ci)}"
        )
    lines += _against_the_board(agreement)
    who = names[agreement.winner]
    if agreement.winner_private_rank is not None:
        lines.append(
            f"  the trial validation picked ({who}) is #{agreement.winner_private_rank} of "
            f"{agreement.private_known} on the private leaderboard; its val - private gap: "
            f"{agreement.winner_gap:+.4f}"
        )
    else:
        lines.append(f"  the trial validation picked ({who}) has no private score")
    return lines


def _against_the_board(agreement: Agreement) -> list[str]:
    """The public board's own agreement with private, and whether validation ranks trials better or worse."""
    board = agreement.leaderboards
    private = next((c for c in agreement.correlations if c.board == "private"), None)
    if board is None or private is None:
        return []
    lines = [
        f"  public ~ private: Spearman {board.spearman:+.2f} {_ci(board.spearman_ci)}"
        f"  Kendall {board.kendall:+.2f} {_ci(board.kendall_ci)}  (the leaderboard's own noise floor)"
    ]
    if not (np.isfinite(board.spearman) and np.isfinite(private.spearman)):
        return lines
    low, high = private.spearman_ci
    how = "better than" if private.spearman > board.spearman else "worse than"
    if low <= board.spearman <= high:
        how = "about as well as"
    lines.append(
        f"  validation ranks the trials {how} the public leaderboard does (Spearman with private "
        f"{private.spearman:+.2f} vs {board.spearman:+.2f}"
        + (": within validation's interval)" if how == "about as well as" else ")")
    )
    return lines


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:+.2f}, {interval[1]:+.2f}]"
