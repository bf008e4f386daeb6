"""'Did you mean' suggestions for mistyped names (models, datasets, configs, architectures, flags' values)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name, choices: Iterable[str]) -> str:
    """` Did you mean 'x'?` (or `'x' or 'y'`) for the choices closest to `name`, else `''`; to append to an error.

    Case is ignored in the comparison; a choice that differs only in case or by a few characters is found.
    """
    choices = [str(choice) for choice in choices]
    lowered = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(str(name).lower(), list(lowered), n=2, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[match]) for match in matches) + "?"
