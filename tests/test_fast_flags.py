"""A command-line mistake is answered before TensorFlow starts; the eager `import keras_latentquant` stays complete.

The scripts (trainers/, tuning/, export/) import the package with `KERAS_LATENTQUANT_DEFER_IMPORTS=1`
(keras_latentquant/__init__.py), check their flags with the parts that need no TensorFlow (the model catalogue,
`training.config`, the dataset registry, the run files) and only then import the rest. Each check here runs in a
fresh interpreter and asks that interpreter whether TensorFlow or Keras was ever imported.
"""

import ast
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_latentquant")
DEFER = "KERAS_LATENTQUANT_DEFER_IMPORTS"
# Top-level modules that must not be imported while flags are checked.
HEAVY = ("tensorflow", "keras", "tensorflow_datasets", "keras_tuner")


def _environment(**extra) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != DEFER}
    return dict(environment, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def _run(arguments, cwd, **extra):
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_environment(**extra))


def _heavy_imports(importtime_stderr: str) -> list[str]:
    """The heavy modules named in `python -X importtime`'s report (`import time: self | cumulative | name`)."""
    names = [line.rsplit("|", 1)[-1].strip() for line in importtime_stderr.splitlines()
             if line.startswith("import time:")]
    return sorted({name for name in names if name.split(".")[0] in HEAVY})


def test_the_flag_checking_parts_import_no_tensorflow(tmp_path):
    script = (
        "import sys\n"
        "import keras_latentquant, keras_latentquant.models.catalogue, keras_latentquant.training.config\n"
        "import keras_latentquant.datasets.registry, keras_latentquant.models.choices\n"
        "from keras_latentquant.datasets import DATASETS\n"
        "from keras_latentquant.models import MODELS\n"
        "DATASETS['real_mpi3d'].resolve_config('toy')\n"
        "keras_latentquant.training.config.TrainConfig(model='qlinfogan', dataset='real_isaac3d').resolved()\n"
        f"print(sorted(name for name in sys.modules if name.split('.')[0] in {HEAVY!r}))\n"
    )
    completed = _run(["-c", script], tmp_path, **{DEFER: "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "[]"


TRAINER_CASES = {
    "model": (["--model=qlea"], "Unknown model 'qlea'. Did you mean 'qlae'?"),
    "dataset": (["--dataset=procedural_dsprite"], "Unknown dataset name 'procedural_dsprite'. Did you mean "
                                                  "'procedural_dsprites'"),
    "dataset_config": (["--dataset_config=sample_5k"], "Unknown config 'sample_5k' for dataset 'procedural_dsprites'. "
                                                       "Did you mean 'sample_50k'"),
    "architecture": (["--architecture=fats"], "received architecture='fats'. Did you mean 'fast'?"),
    "retired architecture": (["--architecture=small"], "architecture 'small' was retired"),
    "option the model lacks": (["--critic_steps=3"], "Model 'qlae' has no option critic_steps (critic_steps is an "
                                                     "option of qlinfogan, infowgan_gp)"),
    "value a layer rejects": (["--num_values=1"], "num_values of 'qlae' must be an integer or a list of integers "
                                                  ">= 2; got 1"),
    "precision": (["--precision=float8"], "got 'float8'. Did you mean 'float32'?"),
    "strategy": (["--strategy=mirorred"], "got 'mirorred'. Did you mean 'mirrored'?"),
    "TFDS dataset not prepared": (["--dataset=shapes3d", "--data_dir=no_tfds_here"],
                                  "TFDS's 'shapes3d' dataset is not prepared in the data directory 'no_tfds_here'"),
}

# Runs trainers/qlae.py's flag parsing and main on each command line in one interpreter (as test_bad_input.py
# does), and reports each error and the heavy modules imported by the end. A command line that passed the checks
# would stop where main imports the rest of the package.
_DRIVER = """
import json, sys
root, cases = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, root)
script = root + "/trainers/qlae.py"
sys.argv = [script]
from absl import flags
import trainers.qlae as trainer
import keras_latentquant
keras_latentquant.import_all = lambda: sys.exit("no error: the flags were accepted")
results = {}
for name, argv in cases.items():
    flags.FLAGS.unparse_flags()
    flags.FLAGS([script] + argv)
    try:
        trainer.main([script])
    except SystemExit as error:
        results[name] = str(error.code)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in %r)
print("RESULTS " + json.dumps({"errors": results, "heavy": heavy}))
""" % (HEAVY,)


def test_trainer_answers_bad_flags_before_tensorflow(tmp_path):
    cases = {name: arguments + [f"--output_dir={tmp_path / 'run'}"] for name, (arguments, _) in TRAINER_CASES.items()}
    completed = _run(["-c", _DRIVER, ROOT, json.dumps(cases)], tmp_path)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    results = json.loads(lines[0][len("RESULTS "):])
    for name, (_, message) in TRAINER_CASES.items():
        assert results["errors"][name].startswith("error: ") and message in results["errors"][name], (
            name, results["errors"][name])
    assert results["heavy"] == []
    assert not (tmp_path / "run").exists()


def test_trainer_script_exits_with_the_message_and_never_imports_tensorflow(tmp_path):
    completed = _run(["-X", "importtime", os.path.join(ROOT, "trainers", "qlae.py"), "--model=qlea"], tmp_path)
    assert completed.returncode == 1
    assert "error: Unknown model 'qlea'. Did you mean 'qlae'?" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _heavy_imports(completed.stderr) == []


@pytest.mark.parametrize("arguments, message", [
    (["--model=qlea"], "error: Unknown model 'qlea'. Did you mean 'qlae'?"),
    (["--weight_decay_min=0"], "weight_decay_range must satisfy 0 < low < high"),
    (["--model=ae", "--tune_quantization_weight"], "model 'ae' has no option(s) ['quantization_weight'] to tune"),
    (["--dataset=dsprites", "--data_dir=no_tfds_here"], "`tfds build dsprites --data_dir=no_tfds_here`"),
])
def test_tuner_answers_bad_flags_before_tensorflow(arguments, message, tmp_path):
    completed = _run(["-X", "importtime", os.path.join(ROOT, "tuning", "weight_decay.py"), *arguments,
                      f"--directory={tmp_path / 'kt'}"], tmp_path)
    assert completed.returncode == 1
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _heavy_imports(completed.stderr) == []


def test_export_answers_a_corrupt_model_file_before_tensorflow(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"not a zip archive")
    completed = _run(["-X", "importtime", os.path.join(ROOT, "export", "savedmodel.py"), f"--model={run}",
                      f"--output={tmp_path / 'exported'}"], tmp_path)
    assert completed.returncode == 1
    assert "is not a readable .keras file" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _heavy_imports(completed.stderr) == []
    assert not (tmp_path / "exported").exists()


def _serializable_classes() -> list[str]:
    """Every class of the package decorated with `register_keras_serializable`, read from the source."""
    names = []
    for folder, _, files in os.walk(PACKAGE):
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            with open(os.path.join(folder, file), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any("register_keras_serializable" in ast.unparse(decorator)
                                                          for decorator in node.decorator_list):
                    names.append(node.name)
    return sorted(names)


def test_eager_import_registers_every_serializable_class(tmp_path):
    # `import keras_latentquant` is all `keras.saving.load_model` needs, whatever the saved model holds.
    classes = _serializable_classes()
    assert {"FactorQVAE", "PeriodicCosine", "DecoupledWeightDecayAdam", "LatentQuantization"} <= set(classes)
    script = (
        "import json, sys, keras, keras_latentquant, keras_latentquant.datasets, tensorflow_datasets as tfds\n"
        "names = json.loads(sys.argv[1])\n"
        "print(tfds.builder_cls('procedural_dsprites').__name__)\n"  # importing datasets registers its builders
        "print(json.dumps([n for n in names if keras.saving.get_registered_object('keras_latentquant>' + n) is None]))\n"
    )
    completed = _run(["-c", script, json.dumps(classes)], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-2] == "ProceduralDsprites"
    assert json.loads(lines[-1]) == [], "not registered by `import keras_latentquant`"


@pytest.mark.parametrize("command", ["keras_latentquant.evaluate", "keras_latentquant.interpret",
                                     "keras_latentquant.explore"])
def test_evaluate_interpret_and_explore_answer_a_missing_model_before_tensorflow(command, tmp_path):
    completed = _run(["-X", "importtime", "-m", command, f"--model={tmp_path / 'none.keras'}"], tmp_path)
    assert completed.returncode == 1
    assert "does not exist" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _heavy_imports(completed.stderr) == []
