"""Study names: an unnamed study is named after its experiment and the short names of the keys it sweeps
(`planet-lr-batch_size-epochs`); a suffix from its search space and directions only where another study
over the same keys holds that name (`planet-lr-batch_size-epochs-3f2a`).

The commands that take a study accept the printed name, or the job's name when one study carries it.
Earlier sweeplabs named every unnamed study `<base>-<8 hex>`; those are still found (study/unnamed.py).
"""

import hashlib
import re
from collections.abc import Iterable, Sequence

from sweeplab.errors import SweeplabError

SUFFIX_HEX = 4  # 65,536 suffixes for the rare second search space over the same keys; then 8 hex
SIGNATURE_HEX = 8  # earlier sweeplabs' names: 4 bytes, a collision ~1 in 4e9


def short_names(keys: Sequence[str]) -> list[str]:
    """Each key's last part where no other key shares it (optimizer.lr -> lr), else the whole key; only
    letters, digits, `_` and `.`, so the parts of a name split at `-`."""
    plain = [re.sub(r"[^\w.]", "_", k.lstrip("+~")) for k in keys]
    leaves = [k.rpartition(".")[2] for k in plain]
    return [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(plain, leaves, strict=True)]


def readable_name(base: str, keys: Sequence[str]) -> str:
    """`planet-lr-batch_size-epochs`: the experiment, then what the study sweeps (none: the base alone)."""
    return "-".join([base, *short_names(keys)])


def _digest(signature: str, directions: list[str]) -> str:
    return hashlib.sha256(f"{signature}|{','.join(directions)}".encode()).hexdigest()


def default_study_names(base: str, keys: Sequence[str], signature: str, directions: list[str]) -> list[str]:
    """The names an unnamed study may take, in order: readable, then with 4 and 8 hex of its search space
    and directions (the same in every worker of one search space: no worker needs to ask another)."""
    name, digest = readable_name(base, keys), _digest(signature, directions)
    return [name, f"{name}-{digest[:SUFFIX_HEX]}", f"{name}-{digest[:SIGNATURE_HEX]}"]


def hashed_study_name(base: str, signature: str, directions: list[str]) -> str:
    """What earlier sweeplabs named an unnamed study: `<base>-<8 hex>`, found and resumed under it."""
    return f"{base}-{_digest(signature, directions)[:SIGNATURE_HEX]}"


def is_default_name(name: str, base: str, keys: Sequence[str]) -> bool:
    """Whether `name` is a default name of a study over these keys, in any order, with or without a
    suffix: a study of the same search space under keys listed in another order is still found."""
    if not name.startswith(f"{base}-") and name != base:
        return False
    parts = name[len(base) + 1 :].split("-") if name != base else []
    if parts and len(parts) > len(keys) and re.fullmatch(r"[0-9a-f]{4}|[0-9a-f]{8}", parts[-1]):
        parts = parts[:-1]
    return sorted(parts) == sorted(short_names(keys))


def studies_of(base: str, names: Iterable[str]) -> list[str]:
    """A job's default-named studies: `<base>-<keys>[-<hex>]`, earlier sweeplabs' `<base>-<8 hex>`."""
    pattern = re.compile(rf"{re.escape(base)}-[\w.]+(-[\w.]+)*")
    return sorted(n for n in names if pattern.fullmatch(n))


def resolve_study_name(name: str, names: Iterable[str]) -> str | None:
    """`name` if a study has it; else the one study of the job `name`; None if none. Several: refused."""
    names = set(names)
    if name in names:
        return name
    found = studies_of(name, names)
    if len(found) > 1:
        raise SweeplabError(
            f"{name!r} has {len(found)} studies, one per search space: {', '.join(found)}; "
            "give one of these names (each sweep prints its own)"
        )
    return found[0] if found else None
