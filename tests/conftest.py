"""Test session setup shared by every test module.

TensorFlow fixes its device list the first time it is used, so the two logical CPUs that the
MirroredStrategy tests need are configured here, at import, before any test touches TensorFlow.
"""

import fcntl
import importlib.util
import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TFDS_DISABLE_GCS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_tensorflow_quietly():
    """TensorFlow, imported without its start-up lines (each xdist worker's would reach the terminal), by the
    package's own helper loaded on its own: importing the package first would import Keras and the models
    before the logical CPUs below are configured."""
    path = os.path.join(ROOT, "keras_latentquant", "_tf_import.py")
    spec = importlib.util.spec_from_file_location("_conftest_tf_import", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.import_tensorflow_quietly()
    import tensorflow

    return tensorflow


tf = _import_tensorflow_quietly()

# One op at a time, as training runs by default (`training.run.configure_determinism`).
tf.config.threading.set_inter_op_parallelism_threads(1)
_cpus = tf.config.list_physical_devices("CPU")
if _cpus:
    try:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:
        # Already initialised by an earlier import: the strategy tests skip if only one CPU is visible.
        pass


_MIRRORED_STRATEGY = None


def shared_mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy over the first 2 logical CPUs for the whole test session.

    Several MirroredStrategy instances in one process draw collective-op instance keys that can
    collide ("Shape mismatch in the collective instance ..."), so every test uses this one.
    """
    global _MIRRORED_STRATEGY
    if _MIRRORED_STRATEGY is None:
        devices = [device.name for device in tf.config.list_logical_devices("CPU")][:2]
        _MIRRORED_STRATEGY = tf.distribute.MirroredStrategy(devices)
    return _MIRRORED_STRATEGY


def square_images(count=64, shape=(64, 64, 1), side=10, low=8, high=48, seed=0):
    """Float32 images in {0, 1}: one bright `side` x `side` square per image, its top-left corner drawn
    uniformly from `[low, high)` on both axes. Easy to reconstruct, quick to learn."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count,) + tuple(shape), "float32")
    for n, (row, column) in enumerate(rng.integers(low, high, size=(count, 2))):
        images[n, row : row + side, column : column + side] = 1.0
    return images


@pytest.fixture(scope="session")
def trained_tiny_qlae(tmp_path_factory):
    """`(folder, data_dir, output_dir)` of a QLAE the trainer wrote (fast model, 4 steps on the `tiny` config),
    trained once per test session and shared by the evaluation and interpretation commands' tests.

    Under pytest-xdist the workers share it too: the first to get the lock trains, the others wait and read."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's temporary folder, common to the workers
    folder = root / "trained_tiny_qlae"
    data_dir, output_dir = folder / "tfds", folder / "run"
    with open(root / "trained_tiny_qlae.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (output_dir / "metrics.json").exists():
            folder.mkdir(exist_ok=True)
            completed = subprocess.run(
                [sys.executable, os.path.join(ROOT, "trainers", "qlae.py"), "--dataset_config=tiny",
                 f"--data_dir={data_dir}", "--architecture=fast", "--batch_size=16", "--steps=4",
                 "--eval_interval=4", "--eval_samples=200", "--verbose=0", f"--output_dir={output_dir}"],
                capture_output=True, text=True, timeout=600, cwd=folder,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
            )
            assert completed.returncode == 0, completed.stderr[-3000:]
    return folder, data_dir, output_dir


# Runs a command's flag parsing and `main` on several command lines in one interpreter (one TensorFlow start-up
# instead of one per case) and reports each case's exit code and output.
_CASES_DRIVER = """
import contextlib, importlib, io, json, sys
module_name, cases = sys.argv[1], json.loads(sys.argv[2])
from absl import app, flags
module = importlib.import_module(module_name)
results = {}
for name, argv in cases.items():
    flags.FLAGS.unparse_flags()
    output = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            flags.FLAGS([module_name] + argv)
            module.main([module_name])
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else 1
            if not isinstance(error.code, (int, type(None))):
                output.write(str(error.code))
        except (app.UsageError, flags.Error) as error:
            code = 1
            output.write(str(error))
    results[name] = {"code": code, "output": output.getvalue()}
print("RESULTS " + json.dumps(results))
"""


def run_command_cases(module: str, cases: dict, cwd) -> dict:
    """`{case: {"code": exit code, "output": what it printed and its error}}` of `python -m module <argv>` for each
    `{case: argv}`, all in one subprocess (an unexpected exception fails it with its traceback)."""
    import json

    completed = subprocess.run(
        [sys.executable, "-c", _CASES_DRIVER, module, json.dumps(cases)], capture_output=True, text=True,
        timeout=600, cwd=cwd, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stdout[-2000:] + completed.stderr[-4000:]
    return json.loads(lines[-1][len("RESULTS "):])


# Modules whose tests train for long or start trainer processes, heaviest first. pytest-xdist hands each worker
# whole modules (`--dist=loadscope`) in collection order, so these go first and the many short modules fill in
# at the end, instead of one worker finishing a long module alone while the other idles.
HEAVY_MODULES = (
    "tests/trainers/test_resume.py",
    "tests/models/test_catalogue.py",
    "tests/trainers/test_infogan_trainer.py",
    "tests/models/test_precision.py",
    "tests/models/test_infogan.py",
    "tests/backends/test_cross_backend.py",
    "tests/models/test_factorqvae.py",
    "tests/trainers/test_qlae_trainer.py",
    "tests/trainers/test_determinism.py",
    "tests/test_reproduce.py",
    "tests/tuning/test_weight_decay.py",
    "tests/export/test_savedmodel.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: index for index, path in enumerate(HEAVY_MODULES)}

    def key(item):
        path = os.path.relpath(str(item.path), ROOT).replace(os.sep, "/")
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the tests of a module keep their order
