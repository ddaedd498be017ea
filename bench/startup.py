"""How long the commands a newcomer types first take to answer: help, the composed config, a refusal.

Each command runs 3 times as a fresh process (the median is printed); goal: <= 2 s each, since none of
them needs PyTorch or MLflow (train.py imports those only to train).

    python bench/startup.py
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "train.py")]
COMMANDS = {
    "python train.py --help": [*TRAIN, "--help"],
    "python train.py --cfg job": [*TRAIN, "--cfg", "job"],
    "python train.py --info": [*TRAIN, "--info"],
    "python train.py trainer.epoch=3 (refused)": [*TRAIN, "trainer.epoch=3"],
    "sweeplab --help": [sys.executable, "-m", "sweeplab.cli", "--help"],
}
GOAL_S = 2.0


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    print(f"| command | median of 3, s | goal <= {GOAL_S:g} s |")
    print("|---|---|---|")
    for name, command in COMMANDS.items():
        median = statistics.median(seconds(command) for _ in range(3))
        print(f"| `{name}` | {median:.2f} | {'met' if median <= GOAL_S else 'MISSED'} |")


if __name__ == "__main__":
    main()
