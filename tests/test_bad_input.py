"""Bad input, in one place: every case a user can get wrong, and the error it gets.

Each case asserts the exception type and that the message names both the problem and the fix (two
`match`es or substrings per case). Categories: layers (rank errors and bad constructor arguments, for
every public layer), models and evaluation entry points (image shape, dtype, NaN/inf), configs and
trainer flags (unknown flag, wrong type, missing flagfile), data (unknown name or config, missing or
corrupt release files), checkpoints from another architecture (a mismatched `.keras` file, an output
folder that holds another run), exported SavedModel signatures, and output folders that must never be
left half-written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant import export, layers
from keras_latentquant.datasets import get_dataset_spec
from keras_latentquant.datasets.pipeline import DataDirError, DatasetNotPreparedError, get_builder
from keras_latentquant.datasets.real import ManualFileFormatError, ManualFileNotFoundError
from keras_latentquant.model_files import (
    RunConfigMismatchError,
    atomic_path,
    check_resumable_run,
    load_model_file,
    resolve_model_path,
)
from keras_latentquant.models.catalogue import build_model, build_qlae
from keras_latentquant.training.config import TrainConfig, upgrade_saved_config
from keras_latentquant.training.evaluation import evaluate_model, reconstruct
from keras_latentquant.training.run import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _raises(error_type, call, *fragments):
    """Runs `call`, asserts it raises `error_type`, and that every fragment (the problem, the fix) is in
    the message; returns the message."""
    with pytest.raises(error_type) as raised:
        call()
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ------------------------------------------------------------------------------------------- layers
# Rank errors: a rank the layer cannot read, and what to give it instead.
RANK_CASES = {
    "LatentQuantization": (lambda: layers.LatentQuantization(), (), ("rank-0", "Reshape it to (..., num_latents)")),
    "VectorQuantization": (lambda: layers.VectorQuantization(), (), ("rank-0", "Reshape it to (..., num_latents)")),
    "FiniteScalarQuantization": (
        lambda: layers.FiniteScalarQuantization(), (), ("rank-0", "Reshape it to (..., num_latents)")),
    "SpaceFillingVectorQuantization": (
        lambda: layers.SpaceFillingVectorQuantization(num_points=8), (), ("rank-0", "Reshape it to (..., dim)")),
    "GaussianPosterior": (
        lambda: layers.GaussianPosterior(), (2, 3, 4), ("(batch, 2 * num_latents)", "rank 3", "Flatten")),
    "ARDGaussianPosterior": (
        lambda: layers.ARDGaussianPosterior(), (2, 3, 4), ("(batch, 2 * num_latents)", "rank 3", "Flatten")),
    "NonNegativeLatents": (
        lambda: layers.NonNegativeLatents(), (4,), ("(batch, num_latents)", "rank 1", "Add a batch axis")),
    "FactorQuantization": (
        lambda: layers.FactorQuantization(discriminator_units=4), (), ("rank-0", "Reshape it to (..., num_latents)")),
}

# Bad constructor (or first-call) arguments: the argument, its value, and what is valid.
ARGUMENT_CASES = {
    "FactorQuantization": (lambda: layers.FactorQuantization(num_values=1), ("num_values=1", "an int >= 2")),
    "LatentQuantization": (lambda: layers.LatentQuantization(num_values=1), ("num_values=1", "at least 2")),
    "LatentQuantization-count-per-latent": (
        lambda: layers.LatentQuantization(num_values=[3, 3])(np.zeros((2, 4), "float32")),
        ("2 entries but the input has 4 latents", "give one count per latent")),
    "VectorQuantization": (lambda: layers.VectorQuantization(decay=1.5), ("decay=1.5", "strictly between 0 and 1")),
    "VectorQuantization-vector-dim": (
        lambda: layers.VectorQuantization(vector_dim=3)(np.zeros((2, 4), "float32")),
        ("divisible by vector_dim=3", "choose a vector_dim that divides 4")),
    "FiniteScalarQuantization": (lambda: layers.FiniteScalarQuantization(levels=1), ("levels=1", "at least 2")),
    "SpaceFillingVectorQuantization": (
        lambda: layers.SpaceFillingVectorQuantization(num_points=8, training_mode="bogus"),
        ("'bogus'", "one of ('nsvq', 'straight_through')")),
    "SFVQGrowth": (
        lambda: layers.SFVQGrowth(layers.SpaceFillingVectorQuantization(num_points=8), schedule="x"),
        ("got 'x'", "a positive int (grow every N steps)")),
    "GaussianPosterior": (
        lambda: layers.GaussianPosterior(log_variance_range=(10.0, -20.0)), ("(10.0, -20.0)", "low < high")),
    "GaussianPosterior-odd-width": (
        lambda: layers.GaussianPosterior()(np.zeros((2, 5), "float32")),
        ("last axis 5", "head of width 2 * num_latents")),
    "ARDGaussianPosterior": (lambda: layers.ARDGaussianPosterior(momentum=1.0), ("momentum=1.0", "in [0, 1)")),
    "NonNegativeLatents": (
        lambda: layers.NonNegativeLatents(activity_weight=-1), ("activity_weight=-1.0", "non-negative")),
}


def test_every_public_layer_has_bad_input_cases():
    names = set(layers.__all__)
    assert names - {"SFVQGrowth"} <= set(RANK_CASES), sorted(names - set(RANK_CASES))
    assert names <= {case.split("-")[0] for case in ARGUMENT_CASES}, sorted(names)


@pytest.mark.parametrize("name", sorted(RANK_CASES))
def test_layer_rank_error(name):
    make_layer, shape, fragments = RANK_CASES[name]
    _raises(ValueError, lambda: make_layer()(np.zeros(shape, "float32")), name, *fragments)


@pytest.mark.parametrize("name", sorted(ARGUMENT_CASES))
def test_layer_bad_argument(name):
    call, fragments = ARGUMENT_CASES[name]
    _raises(ValueError, call, *fragments)


# ------------------------------------------------------------------------------- models and evaluation
@pytest.fixture(scope="module")
def qlae():
    keras.utils.set_random_seed(0)
    return build_model("qlae", image_shape=(64, 64, 1), num_latents=4, architecture="fast")


def _images(count=12, shape=(64, 64, 1)):
    return np.random.default_rng(0).uniform(0, 1, (count,) + shape).astype("float32")


def _factors(count=12):
    return np.random.default_rng(1).integers(0, 3, (count, 2))


@pytest.mark.parametrize(
    "images, fragments",
    [
        (_images(shape=(32, 32, 1)), ("must have shape (N,) + (64, 64, 1)", "got (12, 32, 32, 1)", "Resize them")),
        (_images(shape=(64, 64, 3)), ("must have shape (N,) + (64, 64, 1)", "got (12, 64, 64, 3)", "Resize them")),
        ((_images() * 255).astype("uint8"), ("are uint8", "scale to [0, 1] float32", "astype('float32') / 255")),
        (_images() * 255, ("pixel values in [0, 1]", "divide 0..255 pixels by 255")),
    ],
    ids=["32x32", "3 channels", "uint8", "0..255 floats"],
)
def test_evaluate_model_rejects_images_the_model_cannot_read(qlae, images, fragments):
    _raises(ValueError, lambda: evaluate_model(qlae, images, _factors()), *fragments)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf], ids=["nan", "inf"])
def test_evaluate_model_names_non_finite_samples(qlae, bad_value):
    images = _images()
    images[3, 5, 5, 0] = bad_value
    images[7, 0, 0, 0] = bad_value
    _raises(ValueError, lambda: evaluate_model(qlae, images, _factors()),
            "NaN or inf pixels in 2 of 12 samples (indices [3, 7])", "drop or repair those samples")


def test_reconstruct_rejects_nan_batch(qlae):
    images = _images(4)
    images[0] = np.nan
    _raises(ValueError, lambda: reconstruct(qlae, images), "indices [0]", "drop or repair")


def test_evaluate_model_rejects_factors_of_other_samples(qlae):
    _raises(ValueError, lambda: evaluate_model(qlae, _images(), _factors(5)),
            "one row per image (N = 12); got (5, 2)", "factor labels of the same samples")


def test_fit_on_uint8_images_asks_for_floats_in_unit_interval(qlae):
    images = (_images(4) * 255).astype("uint8")
    _raises(ValueError, lambda: qlae.fit(images, images, epochs=1, verbose=0),
            "Image targets are uint8", "scale to [0, 1] float32")


# ---------------------------------------------------------------------------- configs and trainer flags
@pytest.mark.parametrize(
    "config, fragments",
    [
        (TrainConfig(steps=10, eval_interval=4), ("steps (10) must be a multiple of eval_interval (4)",)),
        (TrainConfig(architecture="huge"), ("'huge'", "one of 'paper', 'paper_small', 'fast'")),
        (TrainConfig(architecture="small"), ("'small' was retired", "Use 'fast'", "'paper_small'")),
        (TrainConfig(model="no_such_model"), ("Unknown model 'no_such_model'", "Registered models: qlae")),
        (TrainConfig(dataset="mnist"), ("Unknown dataset name 'mnist'", "Known datasets: dsprites, procedural_dsprites")),
        (TrainConfig(model="infowgan_gp", options={"prior": "laplace"}),
         ("prior of 'infowgan_gp' must be one of ('uniform', 'normal')", "got 'laplace'")),
        (TrainConfig(model="qlae", options={"critic_steps": 3}),
         ("Model 'qlae' has no option critic_steps", "critic_steps is an option of qlinfogan, infowgan_gp",
          "Its options: num_values")),
        (TrainConfig(model="qlae", options={"num_valeus": 12}), ("no option num_valeus", "is no model's option")),
    ],
    ids=["steps vs interval", "architecture", "retired architecture", "model", "dataset", "gan prior",
         "foreign option", "misspelt option"],
)
def test_config_validation(config, fragments):
    _raises(ValueError, config.validate, *fragments)


# One subprocess parses every bad command line the way trainers/qlae.py does (its absl flags, then its
# main), so the cases share one TensorFlow start-up.
_TRAINER_DRIVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
script = sys.argv[1] + "/trainers/qlae.py"
cases = json.loads(sys.argv[2])
sys.argv = [script]
from absl import app, flags
import trainers.qlae as trainer
results = []
for argv in cases:
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS([script] + argv)
        trainer.main([script])
        results.append("no error")
    except (flags.Error, app.UsageError) as error:
        results.append(type(error).__name__ + ": " + str(error))
    except SystemExit as error:  # a data or output-folder problem: the message, no traceback
        results.append("SystemExit: " + str(error.code))
print("RESULTS " + json.dumps(results))
"""

TRAINER_FLAG_CASES = {
    "unknown flag in flagfile": (["--flagfile={flags}"], ("Unknown command line flag 'num_latnets'",
                                                           "Did you mean: num_latents")),
    "wrong type": (["--batch_size=abc"], ("flag --batch_size=abc", "invalid literal for int()")),
    "missing flagfile": (["--flagfile=/nonexistent/quick.flags"],
                         ("Unable to open flagfile", "No such file or directory: '/nonexistent/quick.flags'")),
    "unknown dataset": (["--dataset=mnist"], ("Unknown dataset name 'mnist'", "Known datasets: dsprites, procedural_dsprites")),
    "steps vs interval": (["--steps=10", "--eval_interval=4"],
                          ("steps (10) must be a multiple of eval_interval (4)", "an evaluation after each")),
    "foreign option flag": (["--critic_steps=3"], ("SystemExit: error: Model 'qlae' has no option critic_steps",
                                                   "critic_steps is an option of qlinfogan, infowgan_gp")),
    "bad precision": (["--precision=float8"], ("precision must be one of",
                                               "'float32', 'mixed_bfloat16', 'mixed_float16'); got 'float8'")),
    "bad option value": (["--model=qlinfogan", "--num_values=1"],
                         ("num_values of 'qlinfogan' must be an integer or a list of integers >= 2; got 1",)),
    "data_dir under a file": (["--data_dir={flags}/tfds", "--steps=2", "--eval_interval=2"],
                              ("SystemExit: error: data_dir", "is a file, not a folder", "pass --data_dir")),
}


@pytest.fixture(scope="module")
def trainer_flag_errors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flags")
    flagfile = folder / "bad.flags"
    flagfile.write_text("--steps=10\n--num_latnets=3\n")
    cases = [[argument.format(flags=flagfile) for argument in arguments] + [f"--output_dir={folder / name}"]
             for name, (arguments, _) in TRAINER_FLAG_CASES.items()]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, "-c", _TRAINER_DRIVER, ROOT, json.dumps(cases)],
        capture_output=True, text=True, timeout=180, cwd=str(folder), env=environment,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    return folder, dict(zip(TRAINER_FLAG_CASES, json.loads(lines[0][len("RESULTS "):])))


@pytest.mark.parametrize("name", list(TRAINER_FLAG_CASES))
def test_bad_trainer_flags_fail_before_anything_is_written(trainer_flag_errors, name):
    folder, errors = trainer_flag_errors
    for fragment in TRAINER_FLAG_CASES[name][1]:
        assert fragment in errors[name], errors[name]
    assert not (folder / name).exists(), "a failed run left its output folder behind"


# ------------------------------------------------------------------------------------------------ data
def test_unknown_dataset_config_lists_the_valid_ones(tmp_path):
    _raises(ValueError, lambda: get_builder("procedural_dsprites", "huge", data_dir=str(tmp_path)),
            "Unknown config 'huge'", "Valid configs: full, sample_50k, sample_10k, tiny")


def test_unknown_dataset_name_lists_the_valid_ones():
    _raises(ValueError, lambda: get_dataset_spec("mnist"), "Unknown dataset name 'mnist'", "shapes3d", "real_mpi3d")


def test_missing_release_file_says_where_to_put_it(tmp_path):
    _raises(ManualFileNotFoundError, lambda: get_builder("real_mpi3d", data_dir=str(tmp_path)),
            "mpi3d_toy.npz", "it was not found", str(tmp_path / "downloads" / "manual"))


@pytest.mark.parametrize("name", ["shapes3d", "dsprites", "real_shapes3d"])
def test_unprepared_tfds_dataset_says_how_to_prepare_it(name, tmp_path):
    # TFDS's own builders are read where the user prepared them, never downloaded (the former real_* names
    # are aliases of them).
    canonical = name.removeprefix("real_")
    message = _raises(DatasetNotPreparedError, lambda: get_builder(name, data_dir=str(tmp_path)),
                      f"TFDS's '{canonical}' dataset is not prepared", f"tfds build {canonical} --data_dir={tmp_path}",
                      f"--dataset=procedural_{canonical}", "never downloads")
    assert "MiB download" in message
    assert not list(tmp_path.glob(f"{canonical}/**/*.tfrecord*"))


@pytest.mark.parametrize(
    "dataset, file_name, content, fragment",
    [
        ("real_mpi3d", "mpi3d_toy.npz", b"not an npz file" * 8, "not a readable NumPy .npz"),
        ("real_mpi3d", "mpi3d_toy.npz", None, "mpi3d_toy"),
    ],
    ids=["garbage npz", "truncated npz"],
)
def test_corrupt_release_file_asks_for_a_fresh_copy(dataset, file_name, content, fragment, tmp_path):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    if content is None:  # a real archive cut short, as an interrupted download leaves it
        np.savez(manual / file_name, images=np.zeros((50, 64, 64, 3), "uint8"))
        data = (manual / file_name).read_bytes()
        content = data[: len(data) // 2]
    (manual / file_name).write_bytes(content)
    _raises(ManualFileFormatError, lambda: get_builder(dataset, data_dir=str(tmp_path)), fragment, "is not in the expected format", "download it again")


def test_data_dir_under_a_file_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    data_dir = str(tmp_path / "notes.txt" / "tfds")
    message = _raises(DataDirError, lambda: get_builder("procedural_dsprites", "tiny", data_dir=data_dir),
                      "is a file, not a folder", "pass --data_dir (or data_dir=) a folder you can write")
    assert "notes.txt" in message
    assert not list(tmp_path.glob("notes.txt*/**"))  # nothing was prepared anywhere


def test_unwritable_data_dir_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    data_dir = tmp_path / "readonly"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    if os.geteuid() == 0:  # root may write into any folder: answer the permission check as for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: (
            False if os.path.abspath(path) == str(data_dir) else real_access(path, mode, **kwargs)))
    try:
        _raises(DataDirError, lambda: get_builder("procedural_dsprites", "tiny", data_dir=str(data_dir / "tfds")),
                "readonly", "not writable (permission denied)", "a folder you can write")
    finally:
        data_dir.chmod(0o700)


# -------------------------------------------------------------------- checkpoints of another architecture
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Two .keras files of different architectures (4 and 6 latents), and one with the config of the first
    and the weights of the second: a checkpoint copied over from another run."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for num_latents in (4, 6):
        model = build_qlae((64, 64, 1), num_latents=num_latents, architecture="fast", compile=False)
        paths[num_latents] = str(folder / f"qlae_{num_latents}.keras")
        model.save(paths[num_latents])
    mixed = str(folder / "mixed.keras")
    with zipfile.ZipFile(paths[4]) as config_source, zipfile.ZipFile(paths[6]) as weight_source, \
            zipfile.ZipFile(mixed, "w") as target:
        for name in config_source.namelist():
            source = weight_source if name.endswith(".h5") else config_source
            target.writestr(name, source.read(name))
    paths["mixed"] = mixed
    return paths


def test_model_with_weights_of_another_architecture(saved_models):
    _raises(ValueError, lambda: load_model_file(saved_models["mixed"]),
            "saved weights or config do not fit together", "pass the .keras file written by the run you mean")


def test_truncated_model_file(saved_models, tmp_path):
    truncated = tmp_path / "model.keras"
    data = pathlib.Path(saved_models[4]).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    _raises(ValueError, lambda: load_model_file(str(truncated)),
            "is not a readable .keras file", "Use checkpoints/latest.keras of the run", "or retrain")


def _as_format_1(path, target):
    """A copy of the .keras file at `path` whose config names the retired format-1 style block, as every
    decoder written by keras-latentquant 0.1 did."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                assert b'"StyleModulation"' in data
                data = data.replace(b'"StyleModulation"', b'"AdaptiveInstanceNormalization"')
            copy.writestr(name, data)
    return str(target)


def test_model_file_of_the_previous_model_format(saved_models, tmp_path):
    old = _as_format_1(saved_models[4], tmp_path / "model.keras")
    _raises(ValueError, lambda: load_model_file(old),
            "model format 1", "IN(x) * s + b", "Retrain with the current version", "keras-latentquant 0.1")


def test_run_folder_of_the_previous_model_format(finished_run, tmp_path):
    saved = json.loads(pathlib.Path(finished_run.output_dir, "config.json").read_text())
    assert saved["model_format"] == 2
    del saved["model_format"]  # format-1 runs saved no model_format
    saved["architecture"] = "small"
    (tmp_path / "config.json").write_text(json.dumps(saved))
    resumed = dataclasses.replace(finished_run, output_dir=str(tmp_path))
    _raises(RunConfigMismatchError, lambda: train(resumed),
            "cannot be resumed", "model format 1", "Pass a new --output_dir")
    assert set(os.listdir(tmp_path)) == {"config.json"}


def test_folder_without_a_model(tmp_path):
    _raises(FileNotFoundError, lambda: resolve_model_path(str(tmp_path)),
            "No model in folder", "or pass the path of a .keras file")


@pytest.mark.slow  # a subprocess: ~10 s idle, ~25 s on a busy machine; load_model_file is tested above
def test_evaluate_command_reports_a_mismatched_model(saved_models, tmp_path):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, "-m", "keras_latentquant.evaluate", f"--model={saved_models['mixed']}",
         f"--output_dir={tmp_path / 'evaluation'}"],
        capture_output=True, text=True, timeout=180, cwd=ROOT, env=environment,
    )
    assert completed.returncode != 0
    assert "do not fit together" in completed.stderr and "or retrain" in completed.stderr, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "evaluation").exists()


def _tiny_config(output_dir, data_dir, **overrides):
    fields = dict(
        output_dir=str(output_dir), dataset="procedural_dsprites", dataset_config="tiny", data_dir=str(data_dir),
        architecture="fast", num_latents=4, batch_size=8, steps=2, eval_interval=2, eval_samples=50, verbose=0,
    )
    return TrainConfig(**{**fields, **overrides})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One real 2-step run on the tiny dataset (model.keras, figures and all)."""
    root = tmp_path_factory.mktemp("run")
    config = _tiny_config(root / "run", root / "tfds")
    train(config)
    return config


def test_finished_run_leaves_no_temporary_files(finished_run):
    files = [p.name for p in pathlib.Path(finished_run.output_dir).rglob("*") if p.is_file()]
    for name in ("config.json", "model.keras", "metrics.json", "reconstructions.png", "traversals.png"):
        assert name in files
    assert not [name for name in files if ".tmp" in name], files
    load_model_file(os.path.join(finished_run.output_dir, "model.keras"))  # complete, loadable


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        ({"num_latents": 6}, ("num_latents: 4 -> 6",)),
        ({"architecture": "paper", "model": "ae"}, ("architecture: 'fast' -> 'paper'", "model: 'qlae' -> 'ae'")),
        ({"steps": 1, "eval_interval": 1}, ("steps: 2 -> 1", "eval_interval: 2 -> 1")),
        ({"precision": "mixed_bfloat16"}, ("precision: 'float32' -> 'mixed_bfloat16'",)),  # a run keeps its policy
    ],
    ids=["num_latents", "architecture and model", "fewer steps", "precision"],
)
def test_rerun_with_other_flags_into_a_run_folder(finished_run, overrides, fragments):
    saved = pathlib.Path(finished_run.output_dir, "config.json").read_text()
    changed = dataclasses.replace(finished_run, **overrides)
    _raises(RunConfigMismatchError, lambda: train(changed), *fragments,
            "already holds a run with a different config", "rerun with the flags in its config.json",
            "pass a new --output_dir")
    assert pathlib.Path(finished_run.output_dir, "config.json").read_text() == saved


def test_rerun_may_change_verbosity_strategy_and_grow_steps(finished_run):
    # The trainer compares the config with its dataset defaults filled in, as it was saved.
    resumed = dataclasses.replace(finished_run, verbose=2, strategy="mirrored", steps=4).resolved()
    assert check_resumable_run(finished_run.output_dir, dataclasses.asdict(resumed)) is True
    assert check_resumable_run(finished_run.output_dir + "_new", dataclasses.asdict(resumed)) is False


def test_gan_rerun_into_an_autoencoder_run_folder(finished_run):
    gan = dataclasses.replace(finished_run, model="qlinfogan")
    message = _raises(RunConfigMismatchError, lambda: train(gan), "model: 'qlae' -> 'qlinfogan'",
                      "pass a new --output_dir")
    assert "options.critic_steps: '<absent>' -> 5" in message
    assert "options.quantization_weight: 0.001 -> 0.01" in message  # each option named, not the whole dict


@pytest.mark.parametrize("batch_size, advice", [(63, "Use 62 or 64."), (1, "Use 2.")])
def test_factorqvae_rejects_a_batch_it_cannot_halve(tmp_path, batch_size, advice):
    # FactorQVAE trains its autoencoder on one half of each batch and its discriminator on the other.
    config = _tiny_config(tmp_path / "run", tmp_path / "tfds", model="factorqvae", batch_size=batch_size)
    _raises(ValueError, lambda: train(config), f"batch_size ({batch_size}) of factorqvae must be divisible by 2",
            "2 equal parts", advice)
    assert not (tmp_path / "run").exists()


def test_run_folder_of_the_earlier_config_layout(finished_run, tmp_path):
    # A config.json written before the model catalogue (layout 1): every option of every autoencoder at the
    # top level. It is read through upgrade_saved_config: the same run resumes, another is refused by name.
    saved = json.loads(pathlib.Path(finished_run.output_dir, "config.json").read_text())
    old = {key: value for key, value in saved.items() if key not in ("options", "config_format")}
    old.update(saved["options"], beta=None, vq_num_codes=64, fsq_levels=10)  # other models' options, as saved then
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert upgrade_saved_config(old) == saved
    resumed = dataclasses.replace(finished_run, output_dir=str(tmp_path)).resolved()
    assert check_resumable_run(str(tmp_path), dataclasses.asdict(resumed), upgrade=upgrade_saved_config) is True
    other = dataclasses.replace(resumed, options={**resumed.options, "num_values": 12})
    _raises(RunConfigMismatchError,
            lambda: check_resumable_run(str(tmp_path), dataclasses.asdict(other), upgrade=upgrade_saved_config),
            "options.num_values: 10 -> 12")


def test_run_saved_before_an_option_existed_resumes_with_its_default(finished_run, tmp_path):
    # A run saved before `shared_codebook` was an option of qlae: the option is absent from its config.json. Its
    # default is the behaviour the model had then, so the same command resumes; another value is refused.
    saved = json.loads(pathlib.Path(finished_run.output_dir, "config.json").read_text())
    before = dict(saved, options={k: v for k, v in saved["options"].items() if k != "shared_codebook"})
    (tmp_path / "config.json").write_text(json.dumps(before))
    assert upgrade_saved_config(before)["options"] == saved["options"]
    resumed = dataclasses.replace(finished_run, output_dir=str(tmp_path)).resolved()
    assert check_resumable_run(str(tmp_path), dataclasses.asdict(resumed), upgrade=upgrade_saved_config) is True
    other = dataclasses.replace(resumed, options={**resumed.options, "shared_codebook": True})
    _raises(RunConfigMismatchError,
            lambda: check_resumable_run(str(tmp_path), dataclasses.asdict(other), upgrade=upgrade_saved_config),
            "options.shared_codebook: False -> True")


def test_unreadable_saved_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    _raises(RunConfigMismatchError, lambda: check_resumable_run(str(tmp_path), {"model": "qlae"}),
            "config.json is unreadable", "pass a new --output_dir")


# ------------------------------------------------------------------------------ half-written outputs
@pytest.mark.parametrize(
    "overrides, error, fragment",
    [
        ({"dataset": "real_mpi3d", "dataset_config": None}, ManualFileNotFoundError, "mpi3d_toy.npz"),
        ({"dataset": "shapes3d", "dataset_config": None}, DatasetNotPreparedError, "tfds build shapes3d"),
        ({"dataset_config": "huge"}, ValueError, "Unknown config 'huge'"),
        ({"eval_samples": 10_000}, ValueError, "lower --eval_samples"),
    ],
    ids=["missing release file", "unprepared TFDS dataset", "unknown config", "too many eval samples"],
)
def test_failed_run_leaves_no_output_folder(overrides, error, fragment, tmp_path):
    config = _tiny_config(tmp_path / "run", tmp_path / "tfds", **overrides)
    _raises(error, lambda: train(config), fragment)
    assert not (tmp_path / "run").exists()


def test_failed_gan_run_leaves_no_output_folder(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "run"), model="qlinfogan", dataset="real_mpi3d",
                         data_dir=str(tmp_path / "tfds"), architecture="fast", steps=2, eval_interval=2, eval_samples=50)
    _raises(ManualFileNotFoundError, lambda: train(config), "mpi3d_toy.npz", "downloads")
    assert not (tmp_path / "run").exists()


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(str(target)) as temporary:
            assert temporary.endswith(".tmp.keras") and os.path.dirname(temporary) == str(tmp_path)
            pathlib.Path(temporary).write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous" and sorted(os.listdir(tmp_path)) == ["model.keras"]
    with atomic_path(str(target)) as temporary:
        pathlib.Path(temporary).write_text("complete")
    assert target.read_text() == "complete" and sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_atomic_path_refuses_an_empty_file(tmp_path):
    target = tmp_path / "figure.png"
    with pytest.raises(RuntimeError, match=re.escape("Nothing was written")):
        with atomic_path(str(target)):
            pass
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------- exported signatures
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_qlae((64, 64, 1), num_latents=3, num_values=[3, 4, 5], architecture="fast", compile=False)
    written = export.export_models(model, str(tmp_path_factory.mktemp("export")))
    return {name: tf.saved_model.load(path) for name, path in written.items()}


@pytest.mark.parametrize(
    "model, signature, inputs, fragments",
    [
        ("decoder", "serving_default", {"codes": tf.constant([[0, 4, 0]])},
         ("codes out of range", "indices 0..n_j-1 with n_j = [3, 4, 5]")),
        ("encoder", "serving_default", {"images": tf.zeros((2, 32, 32, 1))},
         ("`images` must be float32 of shape [batch, 64, 64, 1]", "got shape")),
        ("encoder", "serving_default", {"images": tf.fill((1, 64, 64, 1), 255.0)},
         ("pixel values in [0, 1]", "send 0..255 pixels as uint8 to the `encode_uint8` signature")),
    ],
    ids=["code out of range", "small images", "0..255 floats"],
)
def test_exported_signature_rejects_bad_inputs(exported, model, signature, inputs, fragments):
    _raises(tf.errors.InvalidArgumentError, lambda: exported[model].signatures[signature](**inputs), *fragments)


def test_rest_request_with_wrong_input_name(exported):
    _raises(ValueError, lambda: export.rest_request_to_inputs(
        {"inputs": {"values": [[0, 1, 0]]}}, exported["decoder"].signatures["serving_default"]),
        "the request gives ['values']", "The signature takes inputs ['codes']")
