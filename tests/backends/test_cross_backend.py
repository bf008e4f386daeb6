"""The bottleneck layers compute the same numbers under TensorFlow, JAX and PyTorch (Keras 3 backends).

`cross_backend_case.py` runs once per backend in its own process (Keras fixes its backend at import), all three
at once; this module compares what they saved with TensorFlow's. This is the CI-sized part of the cross-backend
checks: every layer in a small model (outputs, losses, monitored values, one SGD step), FactorQVAE's train
step under JAX (logs and weights after a step, its random draws fixed), and the README's
drop-in example under JAX and PyTorch (run in the same processes, after the numbers). The layers' own unit tests
(tests/layers) run under TensorFlow only.
"""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ("tensorflow", "jax", "torch")
# Outputs, losses and one-step weights within this of TensorFlow's (float32 round-off is about 1e-7 here).
TOLERANCE = 1e-5
# Values that depend on a backend's random generator even at inference: beta-TCVAE's total-correlation
# estimate draws a fixed-seed sample, and keras.random draws differently on each backend.
RANDOM_AT_INFERENCE = {"beta_tcvae_posterior": ("inference_loss", "metric_mutual_information",
                                                "metric_total_correlation", "metric_dimension_wise_kl")}


def _installed(backend):
    return importlib.util.find_spec(backend) is not None


def _environment(backend):
    # Deferred package imports: the layers alone, without the TensorFlow-only parts (models, pipelines).
    return dict(os.environ, KERAS_BACKEND=backend, KERAS_LATENTQUANT_DEFER_IMPORTS="1", PYTHONPATH=ROOT,
                TF_CPP_MIN_LOG_LEVEL="3")


def _readme_example():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        (example,) = re.findall(r"```python\n(.*?)\n```", handle.read(), flags=re.S)
    return example + "\nimport keras\nprint('backend', keras.backend.backend(), codes.shape)\n"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each installed backend's numbers, and what the README's example printed under JAX and PyTorch, from three
    processes running side by side (`{backend: (numbers, stdout)}`)."""
    folder = tmp_path_factory.mktemp("backends")
    script = os.path.join(ROOT, "tests", "backends", "cross_backend_case.py")
    example = folder / "example.py"
    example.write_text(_readme_example())
    # TensorFlow's run of the example is tests/test_readme.py's.
    extra = {"tensorflow": []}
    processes = {
        backend: subprocess.Popen(
            [sys.executable, script, str(folder / f"{backend}.npz"), *extra.get(backend, [str(example)])],
            env=_environment(backend), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for backend in BACKENDS if _installed(backend)
    }
    results = {}
    for backend, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{backend}:\n{stderr[-4000:]}"
        with np.load(folder / f"{backend}.npz") as data:
            results[backend] = ({key: data[key] for key in data.files}, stdout)
    return results


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layers_compute_the_same_numbers_as_under_tensorflow(saved, backend):
    if backend not in saved:
        pytest.skip(f"{backend} is not installed (pip install -e .[test] installs it)")
    reference, other = dict(saved["tensorflow"][0]), dict(saved[backend][0])
    assert str(other.pop("backend")) == backend and str(reference.pop("backend")) == "tensorflow"
    # On JAX and PyTorch the layers (and Keras's fit) run without TensorFlow being imported.
    assert not other.pop("tensorflow_imported") and reference.pop("tensorflow_imported")
    if backend == "torch":  # FactorQVAE's train step is written for TensorFlow and JAX
        reference = {key: value for key, value in reference.items() if not key.startswith("factorqvae_step/")}
    if backend == "jax":  # training.train under JAX (the in-memory trainer): checked below
        other = {key: value for key, value in other.items() if not key.startswith("in_memory/")}
    assert set(other) == set(reference)
    cases = sorted({key.split("/")[0] for key in reference})
    # every bottleneck layer, some in two settings, and under JAX FactorQVAE's step
    assert len(cases) == 11 + (backend == "jax")
    compared = 0
    for key, expected in reference.items():
        case, name = key.split("/", 1)
        if name in RANDOM_AT_INFERENCE.get(case, ()):
            continue
        np.testing.assert_array_equal(np.isnan(other[key]), np.isnan(expected), err_msg=key)
        np.testing.assert_allclose(other[key], expected, rtol=0, atol=TOLERANCE, err_msg=key)
        compared += 1
    # Weights after one step for the deterministic layers, monitored values for all.
    assert sum(key.split("/", 1)[1].startswith("weight_") for key in reference) >= 6 * 4
    assert sum("/metric_" in key for key in reference) >= 30 and compared >= 80


def test_training_runs_under_jax_without_tensorflow(saved):
    if "jax" not in saved:
        pytest.skip("jax is not installed (pip install -e .[test] installs it)")
    numbers = saved["jax"][0]
    assert not numbers["tensorflow_imported"]
    assert set(numbers["in_memory/files"].tolist()) == {
        "config.json", "evaluations.jsonl", "metrics.json", "model.keras", "timings.json"}
    assert int(numbers["in_memory/evaluations"]) == 2
    first, second = numbers["in_memory/held_out_psnr"]
    assert second > first + 1.0  # held-out reconstruction improves from step 6 to step 12 (about 9 -> 12 dB)
    assert 0.0 <= float(numbers["in_memory/final_infom"]) <= 1.0


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_readme_drop_in_example_runs_under_each_backend(saved, backend):
    if backend not in saved:
        pytest.skip(f"{backend} is not installed (pip install -e .[test] installs it)")
    stdout = saved[backend][1]
    assert "quantizer_perplexity" in stdout and f"backend {backend} " in stdout, stdout[-2000:]
