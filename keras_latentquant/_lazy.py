"""Packages whose public names are imported from their submodules on first use (PEP 562).

The command-line entry points check their flags with the parts that need no TensorFlow (the model catalogue, the
dataset registry, the tuning search space); a package that imported its submodules eagerly would start
TensorFlow as soon as one of those parts is imported. Each such package calls `lazy_exports` once.
"""

from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, sources: dict):
    """`(__getattr__, __dir__)` for `package`, whose public names come from `sources`.

    Args:
        package: the package's `__name__`.
        sources: `{name: submodule}`, or `{name: (submodule, name there)}` for a name exported under another
            one. A submodule named in it can also be read as an attribute before anything imported it.
    """
    module = sys.modules[package]
    targets = {name: (source, name) if isinstance(source, str) else tuple(source) for name, source in sources.items()}
    submodules = {submodule for submodule, _ in targets.values()}

    def __getattr__(name):
        if name in targets:
            submodule, attribute = targets[name]
            value = getattr(importlib.import_module(f"{package}.{submodule}"), attribute)
            setattr(module, name, value)  # later look-ups skip this function
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(module)) | set(getattr(module, "__all__", ())))

    return __getattr__, __dir__
