"""The package's layering: which part imports which, and that no part imports one above it.

    python tests/test_layering.py     # prints the import table

Parts, bottom to top (a part may import its own level and the levels below):

    0  layers, optimizers, metrics, datasets, plotting, model_files   building blocks (and serving_client, which
                                                                     imports nothing of the package)
    1  models                                                        architectures and the model catalogue
    2  training                                                      config, callbacks, evaluation, train()
    3  tuning, export, evaluate, interpret, explore                  commands built on training

Imports are read from the source (every `import` and `from ... import` of `keras_latentquant`, function-level
ones included), so a lazy import cannot hide a dependency.
"""

import ast
import os
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "keras_latentquant")
LEVELS = {
    "layers": 0, "optimizers": 0, "metrics": 0, "datasets": 0, "plotting": 0, "model_files": 0,
    "folder_lock": 0, "suggest": 0, "serving_client": 0,
    "models": 1,
    "training": 2,
    "tuning": 3, "export": 3, "evaluate": 3, "interpret": 3, "explore": 3,
}


def _part(module: str) -> str | None:
    """`keras_latentquant.models.catalogue` -> `models`; None for the package root or another package."""
    names = module.split(".")
    return names[1] if names[0] == "keras_latentquant" and len(names) > 1 else None


def import_table() -> dict[str, dict[str, list[str]]]:
    """`{part: {imported part: [files importing it]}}` over every module of the package."""
    table: dict[str, dict[str, list[str]]] = {part: {} for part in LEVELS}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            relative = os.path.relpath(path, os.path.dirname(PACKAGE))
            module = relative[: -len(".py")].replace(os.sep, ".").removesuffix(".__init__")
            part = _part(module)
            if part is None:
                continue  # the package root imports its public parts
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for target in {_part(name) for name in targets} - {None, part}:
                    if target in LEVELS:
                        table[part].setdefault(target, [])
                        if relative not in table[part][target]:
                            table[part][target].append(relative)
    return table


def format_table(table) -> str:
    parts = sorted(LEVELS, key=lambda part: (LEVELS[part], part))
    width = max(map(len, parts))
    lines = [f"{'part (level)':<{width + 4}}  imports"]
    for part in parts:
        imported = sorted(table[part], key=lambda name: (LEVELS[name], name))
        shown = ", ".join(f"{name} ({LEVELS[name]})" for name in imported) or "-"
        lines.append(f"{part} ({LEVELS[part]})".ljust(width + 4) + "  " + shown)
    return "\n".join(lines)


def upward_imports(table) -> list[str]:
    return [
        f"{part} (level {LEVELS[part]}) imports {target} (level {LEVELS[target]}) in {', '.join(files)}"
        for part, imported in table.items()
        for target, files in imported.items()
        if LEVELS[target] > LEVELS[part]
    ]


def test_every_part_is_placed():
    entries = {name.removesuffix(".py") for name in os.listdir(PACKAGE) if not name.startswith(("_", "."))}
    entries = {name for name in entries if name.isidentifier()}
    assert entries == set(LEVELS), f"parts without a level (add them to LEVELS): {entries - set(LEVELS)}"


def test_no_part_imports_one_above_it():
    assert upward_imports(import_table()) == []


@pytest.mark.parametrize("path", ["models", "layers"])
def test_models_and_layers_never_import_training(path):
    table = import_table()
    assert "training" not in table[path] and "tuning" not in table[path]


if __name__ == "__main__":
    table = import_table()
    print(format_table(table))
    problems = upward_imports(table)
    print("\n" + ("\n".join(problems) if problems else "no part imports one above it"))
    sys.exit(1 if problems else 0)
