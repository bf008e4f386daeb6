"""The GPU reproduction: QLAE against AE and FactorQVAE at the largest budget that fits a time limit.

    python benchmarks/gpu_reproduce.py --budget_seconds=540 --output_dir=$OUT/reproduce

On one GPU with the paper's architecture, XLA and a mixed policy (defaults: `paper`, `--jit_compile`,
`mixed_bfloat16`), on procedural Shapes3D (`sample_50k`), 3 seeds:

1. prepares the dataset (built once, then read from disk by every run) and times it;
2. times each model's training step on one fixed batch (`--probe_steps` after a warm-up that compiles it),
   giving images/s per model;
3. picks the largest number of steps, a multiple of `--evaluations` x 100, that the remaining budget allows for
   every model and seed, counting `--overhead_seconds` per run (process start, compilation, evaluations,
   DCI, saving);
4. runs `benchmarks/reproduce.py` with those steps (so the table, the claims and their intervals are the
   same as on CPU) and `benchmarks/learning_curves.py` for the curves;
5. writes `speed.md` (images/s per model, the chosen budget and the measured total time).

Everything is written under `--output_dir`. `--architecture=fast --dataset_config=tiny --budget_seconds=300`
gives a dry run on a CPU (the figures are then no GPU's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
flags.DEFINE_integer("max_steps", 200_000, "Never more steps than this (the paper's budget).", lower_bound=100)


def probe_speed(models, image_shape) -> dict[str, dict]:
    """Images/s of each model's train step on one fixed batch: `{model: {"batch", "seconds_per_step", ...}}`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_latentquant.models.catalogue import MODELS, build_model

    results = {}
    for name in models:
        keras.utils.set_random_seed(0)
        batch = int(round(FLAGS.batch_size / MODELS[name].reconstruction_share))
        images = (np.random.default_rng(0).random((batch, *image_shape)) < 0.5).astype("float32")
        dataset = tf.data.Dataset.from_tensors((images, images)).repeat()
        model = build_model(name, image_shape, 12, FLAGS.architecture, precision=FLAGS.precision,
                            jit_compile=FLAGS.jit_compile, dataset_size=50_000, seed=0)
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # compiles
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.probe_steps, epochs=1, verbose=0)
        seconds = (time.perf_counter() - start) / FLAGS.probe_steps
        results[name] = {"batch": batch, "seconds_per_step": seconds, "images_per_second": batch / seconds,
                         "compile_seconds": compile_seconds}
        print(f"  {name}: batch {batch}, {seconds * 1000:.1f} ms/step, {batch / seconds:.0f} images/s "
              f"(warm-up and compilation {compile_seconds:.1f} s)", flush=True)
        keras.backend.clear_session()
    return results


def choose_steps(speeds: dict, seconds_left: float, runs_per_model: int) -> int:
    """The largest multiple of `evaluations` x 100 steps whose runs fit `seconds_left` (0 if none does)."""
    per_step = sum(speed["seconds_per_step"] for speed in speeds.values()) * runs_per_model
    overhead = FLAGS.overhead_seconds * runs_per_model * len(speeds)
    unit = 100 * FLAGS.evaluations
    steps = int(max(seconds_left - overhead, 0) / per_step) // unit * unit
    return min(steps, FLAGS.max_steps // unit * unit)


def main(argv):
    del argv
    start = time.time()
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    from keras_latentquant.datasets.pipeline import load_arrays

    images, _ = load_arrays(FLAGS.dataset, FLAGS.dataset_config, split="train[:8]")
    data_seconds = time.time() - start
    print(f"data: {FLAGS.dataset}/{FLAGS.dataset_config} ready in {data_seconds:.0f} s", flush=True)
    print("speed probe:", flush=True)
    speeds = probe_speed(FLAGS.models, images.shape[1:])
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
        f"Architecture {FLAGS.architecture}, precision {FLAGS.precision}, XLA {FLAGS.jit_compile}, "
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
        json.dump({"speeds": speeds, "steps": steps, "reproduce_seconds": reproduce_seconds,
                   "total_seconds": time.time() - start}, handle, indent=2)
    print("\n".join(lines))
    if completed.returncode:
        sys.exit(f"reproduce.py failed (exit code {completed.returncode})")


if __name__ == "__main__":
    app.run(main)
