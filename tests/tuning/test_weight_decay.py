"""The weight-decay search: the HyperModel (keras_latentquant/tuning/), the objectives, and
tuning/weight_decay.py and tuning/launch_distributed.py run as a user runs them."""

import csv
import math
import os
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

from keras_latentquant import tuning
from keras_latentquant.models.autoencoders import get_quantizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tuning", "weight_decay.py")
LAUNCHER = os.path.join(ROOT, "tuning", "launch_distributed.py")
TINY_RUN = ["--dataset_config=tiny", "--batch_size=16", "--eval_samples=200", "--steps_per_trial=10"]


def _run(script, arguments, cwd, timeout=300, extra_environment=None):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, **(extra_environment or {}))
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, script, *arguments], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _sampled_hyperparameters(hypermodel, seed):
    """Registers the hypermodel's space, then draws one value of each hyperparameter as an oracle would."""
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    sampled = keras_tuner.HyperParameters()
    sampled.merge(hp.space)
    for index, parameter in enumerate(hp.space):
        sampled.values[parameter.name] = parameter.random_sample(seed + index)
    return sampled


def test_build_uses_the_sampled_weight_decay_and_options():
    space = tuning.SearchSpace(
        weight_decay_range=(1e-4, 1.0), quantization_weight_range=(1e-3, 1e-1), num_values_choices=(5, 7)
    )
    hypermodel = tuning.LatentQuantHyperModel("qlae", (64, 64, 1), 4, space, architecture="fast",
                                              commitment_weight=0.02)
    hp = _sampled_hyperparameters(hypermodel, seed=3)
    model = hypermodel.build(hp)
    assert 1e-4 <= hp.get("weight_decay") <= 1.0
    np.testing.assert_allclose(float(model.optimizer.weight_decay), hp.get("weight_decay"), rtol=1e-6)
    quantizer = get_quantizer(model)
    np.testing.assert_allclose(quantizer.quantization_weight, hp.get("quantization_weight"), rtol=1e-6)
    assert quantizer.num_values == hp.get("num_values") and hp.get("num_values") in (5, 7)
    assert quantizer.commitment_weight == 0.02  # held fixed
    assert [p.name for p in hp.space] == ["weight_decay", "quantization_weight", "num_values"]
    weight_decay = hp.space[0]
    assert (weight_decay.min_value, weight_decay.max_value, weight_decay.sampling) == (1e-4, 1.0, "log")


def test_weight_decay_samples_spread_log_uniformly():
    # Log-uniform on [1e-4, 1]: about a quarter of the draws in each decade.
    hp = keras_tuner.HyperParameters()
    hp.Float("weight_decay", 1e-4, 1.0, sampling="log")
    draws = np.array([hp.space[0].random_sample(seed) for seed in range(400)])
    decades = np.histogram(np.log10(draws), bins=[-4, -3, -2, -1, 0])[0]
    assert draws.min() >= 1e-4 and draws.max() <= 1.0
    assert all(60 <= count <= 140 for count in decades), decades


def test_objectives_on_a_known_case():
    measured = dict(infom=0.5, infoc=0.25, val_reconstruction=0.1)
    assert tuning.objective_value("val_reconstruction", **measured) == pytest.approx(0.1)
    assert tuning.objective_value("infom_infoc", **measured) == pytest.approx(0.75)
    # mix = InfoM + InfoC - alpha * val_reconstruction = 0.75 - 2 * 0.1
    assert tuning.objective_value("mix", **measured, alpha=2.0) == pytest.approx(0.55)
    assert tuning.keras_tuner_objective("val_reconstruction").direction == "min"
    assert tuning.keras_tuner_objective("mix").direction == "max"
    with pytest.raises(ValueError, match="infom_infoc"):
        tuning.objective_value("accuracy", **measured)


def test_reconstruction_loss_against_hand_computed_bce():
    # Logits 3 everywhere: BCE(1, s(3)) = log(1 + e^-3) = 0.048587, BCE(0, s(3)) = 3 + log(1 + e^-3) = 3.048587.
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Rescaling(0.0, offset=3.0)])
    images = np.array([np.ones((2, 2, 1)), np.zeros((2, 2, 1))], dtype="float32")
    assert tuning.reconstruction_loss(model, images) == pytest.approx((0.048587 + 3.048587) / 2, abs=1e-5)


def test_tuning_objective_callback_fills_the_logs():
    class Constant(tuning.TuningObjective):
        def measure(self):  # skip the model: check what the callback puts in the logs
            return {"infom": 0.4, "infoc": 0.2, "val_reconstruction": 0.3}

    logs = {"loss": 1.0}
    Constant(None, None, alpha=2.0).on_epoch_end(0, logs)
    expected = {"loss": 1.0, "infom": 0.4, "infoc": 0.2, "val_reconstruction": 0.3,
                "infom_infoc": 0.6, "mix": 0.6 - 2.0 * 0.3}
    assert logs.keys() == expected.keys()
    for key, value in expected.items():
        assert logs[key] == pytest.approx(value), key


def test_search_space_rejects_bad_values():
    with pytest.raises(ValueError, match="weight_decay_range.*0 < low < high"):
        tuning.SearchSpace(weight_decay_range=(0.0, 1.0)).validate("qlae")
    with pytest.raises(ValueError, match="no option.*num_values"):
        tuning.SearchSpace(num_values_choices=(5, 10)).validate("ae")
    with pytest.raises(ValueError, match="num_values_choices"):
        tuning.SearchSpace(num_values_choices=(1,)).validate("qlae")


def test_random_search_end_to_end_writes_table_and_plot(tmp_path, data_dir):
    directory = tmp_path / "kt"
    completed = _run(
        SCRIPT,
        [*TINY_RUN, f"--data_dir={data_dir}", "--tuner=random", "--max_trials=2", "--objective=mix", "--alpha=0.5",
         f"--directory={directory}", "--project_name=smoke"],
        tmp_path,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    output_dir = directory / "smoke"
    for name in ("results.md", "results.csv", "objective_vs_weight_decay.png"):
        assert (output_dir / name).exists(), name
    assert (output_dir / "objective_vs_weight_decay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(output_dir / "results.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "COMPLETED"
        assert 1e-4 <= float(row["weight_decay"]) <= 1.0
        infom, infoc, loss = float(row["infom"]), float(row["infoc"]), float(row["val_reconstruction"])
        assert 0 <= infom <= 1 and 0 <= infoc <= 1 and loss > 0
        assert float(row["mix"]) == pytest.approx(infom + infoc - 0.5 * loss, abs=1e-6)
    assert sum(row["best"] == "True" for row in rows) == 1
    assert "| trial | status | weight_decay | mix | infom | infoc | val_reconstruction | best |" in completed.stdout
    assert "best: trial" in completed.stdout
    # Progress after each trial, the table rewritten each time.
    progress = [line for line in completed.stdout.splitlines() if line.startswith("trial ") and " ended (" in line]
    assert len(progress) == 2 and "(1/2 trials," in progress[0] and "(2/2 trials," in progress[1], progress
    assert "weight_decay" in progress[0] and "best so far: trial" in progress[1]


def test_a_search_into_a_folder_in_use_stops_at_once(tmp_path, data_dir):
    from keras_latentquant.folder_lock import folder_lock

    project = tmp_path / "kt" / "busy"
    project.mkdir(parents=True)
    (project / "oracle.json").write_text("{}")
    with folder_lock(str(project), "tuning qlae"):
        completed = _run(SCRIPT, [*TINY_RUN, f"--data_dir={data_dir}", "--max_trials=1",
                                  f"--directory={tmp_path / 'kt'}", "--project_name=busy"], tmp_path, timeout=120)
    assert completed.returncode != 0
    assert "is in use by another process" in completed.stderr and f"pid {os.getpid()}" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (project / "oracle.json").read_text() == "{}"  # --overwrite (the default) did not clear it


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--tuner=grid"], "--tuner"),
        (["--weight_decay_min=0"], "0 < low < high"),
        (["--steps_per_trial=10", "--evaluations_per_trial=3"], "multiple of --evaluations_per_trial"),
        (["--model=ae", "--tune_quantization_weight"], "no option(s) ['quantization_weight']"),
        (["--model=qlea"], "Unknown model 'qlea'. Did you mean 'qlae'?"),
        (["--model=qlinfogan"], "is a GAN; the tuner searches autoencoders"),
    ],
)
def test_bad_flags_fail_with_a_message(arguments, message, tmp_path):
    completed = _run(SCRIPT, [*arguments, f"--directory={tmp_path / 'kt'}"], tmp_path, timeout=120)
    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    assert len((completed.stdout + completed.stderr).splitlines()) <= 4  # the error, not the usage text


@pytest.mark.slow
def test_distributed_launcher_runs_chief_and_two_workers(tmp_path, data_dir):
    output_dir = tmp_path / "distributed"
    completed = _run(
        LAUNCHER,
        [f"--output_dir={output_dir}", "--timeout=500", "--", *TINY_RUN, f"--data_dir={data_dir}", "--max_trials=3"],
        tmp_path,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    logs = output_dir / "logs"
    for name in ("chief", "tuner0", "tuner1", "launcher"):
        assert (logs / f"{name}.log").exists(), name
    assert "chief exited with code 0" in (logs / "launcher.log").read_text()
    assert "worker tuner0: no more trials" in (logs / "tuner0.log").read_text()
    with open(output_dir / "results.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(row["status"] == "COMPLETED" for row in rows)
    assert all(math.isfinite(float(row["infom_infoc"])) for row in rows)
