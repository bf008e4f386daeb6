"""The GPU reproduction: QLAE against AE and FactorQVAE at the largest budget that fits a time limit.

    python benchmarks/gpu_reproduce.py --budget_seconds=540 --output_dir=$OUT/reproduce

On one GPU with the paper's architecture, XLA and a mixed policy (defaults: `paper`, `--jit_compile`,
`mixed_bfloat16`), on procedural Shapes3D (`sample_50k`), 3 seeds:

1. prepares the dataset (TensorFlow: the TFDS builder, built once and read from disk by every run; JAX: rendered
   in all cores and cached, `datasets.rendered`) and times it;
2. times each model's training step on one batch (`--probe_steps` after a warm-up that compiles it), giving
   images/s per model, and evaluates it once, so that the runs find the compiled programs (JAX's persistent
   compilation cache) and the metrics' kernels (numba's cache) ready;
3. picks the largest number of steps, a multiple of `--evaluations` x 100, that the remaining budget allows for
   every model and seed, counting the runs' steps one after another and `--overhead_seconds` per run (process
   start, compilation, evaluations, DCI, saving) `--jobs` runs at a time;
4. runs `benchmarks/reproduce.py` with those steps, `--jobs` runs side by side on the GPU (so the table, the
   claims and their intervals are the same as on CPU) and `benchmarks/learning_curves.py` for the curves;
5. writes `speed.md` (images/s per model, the chosen budget and the measured total time).

The Keras backend is TensorFlow where it is installed, else JAX (`KERAS_BACKEND` decides when set): on a GPU
machine with JAX and no TensorFlow the runs go through `training.in_memory` (procedural data only; see there how
they differ from a TensorFlow run). Its run on an H200 under JAX: benchmarks/RESULTS.md (issue 17).

Everything is written under `--output_dir`. `--architecture=fast --dataset_config=tiny --budget_seconds=300`
gives a dry run on a CPU (the figures are then no GPU's; under JAX add `--precision=float32`: bfloat16 is
emulated there, about 70x slower).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# TensorFlow where it is installed; else JAX (a GPU machine with JAX and no TensorFlow: the runs then use the
# in-memory trainer, `keras_latentquant.training.in_memory`). KERAS_BACKEND, when set, decides.
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


os.environ.setdefault("KERAS_BACKEND", "tensorflow" if _installed("tensorflow") else "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# This process (the speed probe) and the runs' processes, `--jobs` at a time, share one GPU: each takes memory
# as it needs it (by default JAX takes 75% of it at start, TensorFlow all of it).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
# JAX: the speed probe compiles each model's step and evaluation programs into a persistent cache that the runs
# then read (started together, each compiling its own took about 150 s on the H200 machine instead of 45 s).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache",
                                                                "keras_latentquant_jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("budget_seconds", 540, "Wall-clock budget of the whole script.", lower_bound=60)
flags.DEFINE_string("output_dir", "runs/gpu_reproduce", "Runs, table, curves and speed.md.")
flags.DEFINE_list("models", ["qlae", "ae", "factorqvae"], "Catalogued autoencoders to compare.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_string("dataset", "procedural_shapes3d", "Registered dataset.")
flags.DEFINE_string("dataset_config", "sample_50k", "Its builder config.")
flags.DEFINE_string("architecture", "paper", "Encoder/decoder architecture.")
flags.DEFINE_string("precision", "mixed_bfloat16", "Dtype policy (float32, mixed_bfloat16, mixed_float16).")
flags.DEFINE_bool("jit_compile", True, "XLA-compile the train steps.")
flags.DEFINE_integer("batch_size", 128, "Batch of each autoencoder update (the paper's 128).", lower_bound=2)
flags.DEFINE_integer("eval_samples", 5000, "Held-out images scored per run.", lower_bound=100)
flags.DEFINE_integer("evaluations", 5, "Evaluations per run (learning curves).", lower_bound=1)
flags.DEFINE_integer("probe_steps", 20, "Timed steps per model in the speed probe.", lower_bound=1)
flags.DEFINE_float("overhead_seconds", 45.0, "Time per run outside training steps (start, XLA, evaluations, DCI).")
flags.DEFINE_integer("jobs", 3, "Runs trained at a time on the GPU (reproduce.py --jobs).", lower_bound=1)
flags.DEFINE_integer("max_steps", 200_000, "Never more steps than this (the paper's budget).", lower_bound=100)


def probe_speed(models, train_images, eval_images, eval_factors, dataset_size: int) -> dict[str, dict]:
    """Images/s of each model's train step on one batch of the data, and the time of an evaluation:
    `{model: {"batch", "seconds_per_step", "images_per_second", "compile_seconds", "evaluation_seconds"}}`.

    Each model is built as a run builds it (`TrainConfig(...).resolved()`, `training.fitting.build_model`) and
    evaluated once on the held-out arrays (DCI too, for the first): so the XLA programs the runs need are in the
    compilation cache and the metrics' compiled kernels in numba's, before the runs start together."""
    import keras
    import numpy as np

    from keras_latentquant.datasets.registry import get_dataset_spec
    from keras_latentquant.models.catalogue import MODELS
    from keras_latentquant.training.config import TrainConfig
    from keras_latentquant.training.evaluation import evaluate_model
    from keras_latentquant.training.fitting import build_model

    spec = get_dataset_spec(FLAGS.dataset)
    results = {}
    for index, name in enumerate(models):
        keras.utils.set_random_seed(0)
        batch = int(round(FLAGS.batch_size / MODELS[name].reconstruction_share))
        images = np.asarray(train_images[:batch], dtype=np.float32) / 255.0
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            dataset = tf.data.Dataset.from_tensors((images, images)).repeat()
        else:
            dataset = _repeat(images)
        config = TrainConfig(model=name, dataset=FLAGS.dataset, dataset_config=FLAGS.dataset_config,
                             architecture=FLAGS.architecture, precision=FLAGS.precision, batch_size=batch,
                             jit_compile=FLAGS.jit_compile or keras.backend.backend() == "jax", seed=0).resolved()
        model = build_model(config, spec.image_shape, 2 * spec.num_factors, dataset_size=dataset_size)
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # compiles
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.probe_steps, epochs=1, verbose=0, shuffle=False)
        seconds = (time.perf_counter() - start) / FLAGS.probe_steps
        start = time.perf_counter()
        evaluate_model(model, eval_images, eval_factors, metrics=["infomec", "psnr", "dci"] if index == 0 else
                       ["infomec", "psnr"])
        evaluation_seconds = time.perf_counter() - start
        results[name] = {"batch": batch, "seconds_per_step": seconds, "images_per_second": batch / seconds,
                         "compile_seconds": compile_seconds, "evaluation_seconds": evaluation_seconds}
        print(f"  {name}: batch {batch}, {seconds * 1000:.1f} ms/step, {batch / seconds:.0f} images/s (warm-up and "
              f"compilation {compile_seconds:.1f} s; first evaluation {evaluation_seconds:.1f} s)", flush=True)
        keras.backend.clear_session()
    return results


def _repeat(images):
    while True:
        yield images, images


def choose_steps(speeds: dict, seconds_left: float, runs_per_model: int) -> int:
    """The largest multiple of `evaluations` x 100 steps whose runs fit `seconds_left` (0 if none does)."""
    per_step = sum(speed["seconds_per_step"] for speed in speeds.values()) * runs_per_model
    # Runs share the GPU: their steps are counted as if run one after another (small models leave a large GPU
    # idle, so this errs on the short side), their overheads (start, compilation, evaluations: mostly CPU) as
    # overlapping `jobs` at a time.
    overhead = FLAGS.overhead_seconds * math.ceil(runs_per_model * len(speeds) / FLAGS.jobs)
    unit = 100 * FLAGS.evaluations
    steps = int(max(seconds_left - overhead, 0) / per_step) // unit * unit
    return min(steps, FLAGS.max_steps // unit * unit)


def main(argv):
    del argv
    start = time.time()
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow":
        from keras_latentquant.datasets.pipeline import load_arrays

        images, _ = load_arrays(FLAGS.dataset, FLAGS.dataset_config, split="train[:256]")
        images = (images * 255).astype("uint8")
        eval_images, eval_factors = load_arrays(FLAGS.dataset, FLAGS.dataset_config,
                                                split=f"train[-{FLAGS.eval_samples}:]")
        from keras_latentquant.datasets.pipeline import get_builder

        dataset_size = get_builder(FLAGS.dataset, FLAGS.dataset_config).info.splits["train"].num_examples
        dataset_size -= FLAGS.eval_samples
    else:  # rendered once in all cores, cached where the runs' in-memory trainer reads it
        from keras_latentquant.training.in_memory import rendered_split

        images, eval_images, eval_factors = rendered_split(FLAGS.dataset, FLAGS.dataset_config, FLAGS.eval_samples)
        dataset_size = len(images)
    data_seconds = time.time() - start
    print(f"data: {FLAGS.dataset}/{FLAGS.dataset_config} ready in {data_seconds:.0f} s ({backend} backend)",
          flush=True)
    print("speed probe:", flush=True)
    speeds = probe_speed(FLAGS.models, images, eval_images, eval_factors, dataset_size)
    seconds_left = FLAGS.budget_seconds - (time.time() - start)
    steps = choose_steps(speeds, seconds_left, len(FLAGS.seeds))
    if steps == 0:
        raise app.UsageError(
            f"--budget_seconds={FLAGS.budget_seconds} leaves {seconds_left:.0f} s after the probe, too little for "
            f"{100 * FLAGS.evaluations} steps of every model and seed with {FLAGS.overhead_seconds:.0f} s overhead "
            "per run; raise the budget, or lower --evaluations, --overhead_seconds or the number of seeds.")
    print(f"budget: {steps} steps per run ({len(FLAGS.models)} models x {len(FLAGS.seeds)} seeds) in the "
          f"{seconds_left:.0f} s left", flush=True)
    runs_dir = os.path.join(FLAGS.output_dir, "runs")
    command = [
        sys.executable, os.path.join(ROOT, "benchmarks", "reproduce.py"), f"--models={','.join(FLAGS.models)}",
        f"--datasets={FLAGS.dataset}", f"--seeds={','.join(FLAGS.seeds)}", f"--steps={steps}",
        f"--batch_size={FLAGS.batch_size}", f"--dataset_config={FLAGS.dataset_config}",
        f"--eval_samples={FLAGS.eval_samples}", f"--architecture={FLAGS.architecture}",
        f"--precision={FLAGS.precision}", f"--evaluations={FLAGS.evaluations}", f"--output_dir={runs_dir}",
        f"--jobs={FLAGS.jobs}",
    ] + (["--jit_compile"] if FLAGS.jit_compile else [])
    reproduce_start = time.time()
    completed = subprocess.run(command, cwd=ROOT)
    reproduce_seconds = time.time() - reproduce_start
    figure = os.path.join(FLAGS.output_dir, "learning_curves.png")
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "learning_curves.py"), f"--output_dir={runs_dir}",
                    f"--dataset={FLAGS.dataset}", f"--models={','.join(FLAGS.models)}", f"--output={figure}"],
                   cwd=ROOT)
    lines = [
        f"# GPU reproduction: {', '.join(FLAGS.models)} on {FLAGS.dataset}/{FLAGS.dataset_config}",
        "",
        f"Keras backend {backend}; architecture {FLAGS.architecture}, precision {FLAGS.precision}, XLA "
        f"{FLAGS.jit_compile or backend == 'jax'}, "
        f"{FLAGS.batch_size} images per autoencoder update, seeds {', '.join(FLAGS.seeds)}; budget "
        f"{FLAGS.budget_seconds} s: data {data_seconds:.0f} s, then {steps} steps per run; reproduction took "
        f"{reproduce_seconds:.0f} s, the whole script {time.time() - start:.0f} s.",
        "",
        "| model | batch | ms/step | images/s | warm-up and compilation (s) |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {name} | {s['batch']} | {s['seconds_per_step'] * 1000:.1f} | {s['images_per_second']:.0f} | "
          f"{s['compile_seconds']:.1f} |" for name, s in speeds.items()],
        "",
        f"Table, claims and intervals: `{os.path.join(runs_dir, 'table.md')}`; curves: `{figure}`.",
    ]
    with open(os.path.join(FLAGS.output_dir, "speed.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(FLAGS.output_dir, "speed.json"), "w", encoding="utf-8") as handle:
        json.dump({"backend": backend, "speeds": speeds, "steps": steps, "reproduce_seconds": reproduce_seconds,
                   "total_seconds": time.time() - start}, handle, indent=2)
    print("\n".join(lines))
    if completed.returncode:
        sys.exit(f"reproduce.py failed (exit code {completed.returncode})")


if __name__ == "__main__":
    app.run(main)
