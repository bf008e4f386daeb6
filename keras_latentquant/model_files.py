"""Where a command finds a trained model: a `.keras` file, or a training output folder."""

from __future__ import annotations

import os

__all__ = ["resolve_model_path", "apply_default_permissions"]


def resolve_model_path(path: str) -> str:
    """The `.keras` file a `--model` argument names (a file, or a training output folder).

    A folder is searched for `model.keras` (written at the end of training), then
    `checkpoints/latest.keras` (written at every evaluation), as `trainers/qlae.py` and
    `trainers/infogan.py` lay them out.

    Raises:
        FileNotFoundError: naming the path and what was expected there.
        ValueError: for a file that is not a `.keras` file.
    """
    if os.path.isdir(path):
        for candidate in ("model.keras", os.path.join("checkpoints", "latest.keras")):
            if os.path.isfile(os.path.join(path, candidate)):
                return os.path.join(path, candidate)
        raise FileNotFoundError(
            f"No model in folder {path!r}: expected model.keras or checkpoints/latest.keras there "
            "(what trainers/qlae.py and trainers/infogan.py write), or pass the path of a .keras file."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model {path!r} does not exist; pass a .keras file or a training output folder.")
    if not path.endswith(".keras"):
        raise ValueError(f"--model {path!r} is not a .keras file; pass a .keras file or a training output folder.")
    return path


def apply_default_permissions(path: str) -> None:
    """Gives a file or folder made by `tempfile` (owner-only: 0600 / 0700) the permissions a plain
    `open` / `os.makedirs` would, under the current umask, so other users (a TF Serving container, a
    colleague) can read what a command wrote once it is renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)
