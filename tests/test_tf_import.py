"""`import keras_latentquant` brings TensorFlow up without its harmless start-up log lines."""

import glob
import os
import subprocess
import sys

from keras_latentquant._tf_import import kept_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STARTUP = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results
I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1.0 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow
E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: UNKNOWN ERROR (303)
E0000 00:00:1.0 1 some_kernel.cc:1] something real went wrong
"""


def test_only_harmless_lines_are_dropped():
    assert kept_lines(STARTUP, has_gpu_devices=False) == ["E0000 00:00:1.0 1 some_kernel.cc:1] something real went wrong"]
    # On a machine with NVIDIA devices a failing cuInit is a real problem: it stays.
    kept = kept_lines(STARTUP, has_gpu_devices=True)
    assert len(kept) == 2 and "failed call to cuInit" in kept[0]


def test_importing_the_package_prints_nothing():
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_LATENTQUANT_TF_LOGS")}
    environment["PYTHONPATH"] = ROOT
    completed = subprocess.run([sys.executable, "-c", "import keras_latentquant; print('ok')"], capture_output=True,
                               text=True, timeout=120, env=environment)
    assert completed.returncode == 0 and completed.stdout == "ok\n", completed.stderr[-2000:]
    if not glob.glob("/dev/nvidia[0-9]*"):
        assert completed.stderr == "", completed.stderr
    shown = subprocess.run([sys.executable, "-c", "import keras_latentquant"], capture_output=True, text=True,
                           timeout=120, env=dict(environment, KERAS_LATENTQUANT_TF_LOGS="1"))
    assert shown.returncode == 0  # the escape hatch imports normally (its lines depend on the machine)
