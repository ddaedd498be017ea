"""Study names: an unnamed study is named after the job and a signature of its search space and directions.

So a changed search space (or direction) gets a study of its own, and going back resumes the earlier one;
the commands that take a study accept the printed name, or the job's name when one study carries it.
"""

import hashlib
import re
from collections.abc import Iterable

from sweeplab.errors import SweeplabError

SIGNATURE_HEX = 8  # 4 bytes: a collision between two search spaces of one job is ~1 in 4e9


def default_study_name(base: str, search_space_signature: str, directions: list[str]) -> str:
    digest = hashlib.sha256(f"{search_space_signature}|{','.join(directions)}".encode()).hexdigest()
    return f"{base}-{digest[:SIGNATURE_HEX]}"


def studies_of(base: str, names: Iterable[str]) -> list[str]:
    """The default-named studies of a job: `<base>-<8 hex>`."""
    pattern = re.compile(rf"{re.escape(base)}-[0-9a-f]{{{SIGNATURE_HEX}}}")
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
