"""TensorFlow's import without its start-up chatter.

Importing TensorFlow and listing its devices writes, on a healthy CPU machine, about ten C++ log lines to
stderr (oneDNN is on, no CUDA drivers, CPU instructions the binary could use, "failed call to cuInit" at error
level where a CUDA library is installed without a GPU), before Python can set a log level. They bury the
commands' own output and read as errors. `import_tensorflow_quietly` captures stderr (the file descriptor)
while TensorFlow imports and finds its devices, and writes back every line except those known to be harmless
(`HARMLESS`); the cuInit failure is dropped only when the machine has no NVIDIA device nodes (`/dev/nvidia*`),
so a GPU machine whose driver fails still shows it. `KERAS_LATENTQUANT_TF_LOGS=1` shows everything.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile

#: Substrings of TensorFlow's start-up lines that say nothing is wrong.
HARMLESS = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine, GPU will not be used",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
)
#: Harmless only on a machine without NVIDIA devices.
NO_GPU_HARMLESS = ("failed call to cuInit",)


def kept_lines(text: str, has_gpu_devices: bool) -> list[str]:
    """The lines of captured start-up output worth showing."""
    harmless = HARMLESS + (() if has_gpu_devices else NO_GPU_HARMLESS)
    return [line for line in text.splitlines() if line.strip() and not any(p in line for p in harmless)]


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its physical devices with the harmless start-up lines filtered out."""
    try:
        stderr_fd = sys.__stderr__.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (some notebooks, embedded interpreters)
        stderr_fd = None
    if stderr_fd is None or "tensorflow" in sys.modules or os.environ.get("KERAS_LATENTQUANT_TF_LOGS") == "1":
        import tensorflow  # noqa: F401

        return
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    saved = os.dup(stderr_fd)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), stderr_fd)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA's platform start-up (cuInit) logs here
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, stderr_fd)
            os.close(saved)
            capture.seek(0)
            lines = kept_lines(capture.read().decode("utf-8", "replace"), bool(glob.glob("/dev/nvidia[0-9]*")))
            if lines:
                sys.stderr.write("\n".join(lines) + "\n")
                sys.stderr.flush()
