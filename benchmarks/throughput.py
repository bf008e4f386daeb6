"""Training throughput of QLAE against the same autoencoder without the quantizer (issue 8, part 1).

For every architecture in `--architectures` and for `jit_compile` False and True, the script builds QLAE
(`build_qlae`) and the same autoencoder with no bottleneck (`build_autoencoder(None, ...)` with QLAE's
optimizer settings, weight decay included, so the quantizer is the only difference), and times training
on one batch of `--batch_size` synthetic random binary 64x64x1 images held in
`tf.data.Dataset.from_tensors(batch).repeat()`, so no input pipeline cost is measured.

Timing: one warm-up `fit` of `--warmup` steps (tracing and XLA compilation excluded), then `--repeats`
timed `fit(..., steps_per_epoch=--steps, epochs=1, verbose=0)` calls; the median is reported as
milliseconds per step. The quantizer's share of the step time is

    share = (QLAE step - AE step) / QLAE step

for the same architecture and jit setting. The `LatentQuantization` layer is also timed alone:
forward + backward (gradients with respect to the input and the codebook, its added loss included) on a
`(--batch_size, --num_latents)` batch inside a `tf.function`, with and without `jit_compile`, in
microseconds per call.

Prints markdown tables, machine information and the exact command; `--output` also writes JSON. Run:

    python benchmarks/throughput.py --architectures=small --steps=20 --repeats=3

The paper architecture is slow on CPU at batch 128 (about 1-2 s a step): give it few steps.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time

from absl import app, flags

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.autoencoders import DEFAULT_WEIGHT_DECAY, build_autoencoder, build_qlae

IMAGE_SHAPE = (64, 64, 1)

FLAGS = flags.FLAGS
flags.DEFINE_list("architectures", ["small"], "encoder/decoder architectures to time: small, paper")
flags.DEFINE_integer("batch_size", 128, "training batch size")
flags.DEFINE_integer("num_latents", 10, "latent dimensions (and the width of the quantizer's batch)")
flags.DEFINE_integer("num_values", 10, "codebook values per latent dimension")
flags.DEFINE_integer("steps", 20, "timed training steps per repeat")
flags.DEFINE_integer("warmup", 3, "warm-up training steps before timing (tracing and compilation)")
flags.DEFINE_integer("repeats", 3, "timed repeats; the median is reported")
flags.DEFINE_integer("layer_calls", 200, "calls per repeat when timing the quantizer layer alone")
flags.DEFINE_integer("seed", 0, "seed of the synthetic images and the weights")
flags.DEFINE_string("output", None, "optional path of a JSON file with every measurement")


def synthetic_dataset(batch_size: int, seed: int) -> tf.data.Dataset:
    """One batch of random binary images, repeated forever: `(images, images)` pairs."""
    rng = np.random.default_rng(seed)
    images = (rng.random((batch_size, *IMAGE_SHAPE)) < 0.5).astype("float32")
    return tf.data.Dataset.from_tensors((images, images)).repeat()


def build_model(model_name: str, architecture: str, jit_compile: bool) -> keras.Model:
    if model_name == "qlae":
        return build_qlae(
            IMAGE_SHAPE, FLAGS.num_latents, FLAGS.num_values, architecture=architecture, jit_compile=jit_compile
        )
    # The AE baseline with QLAE's optimizer (weight decay included): only the quantizer differs.
    return build_autoencoder(
        None, IMAGE_SHAPE, FLAGS.num_latents, architecture=architecture,
        weight_decay=DEFAULT_WEIGHT_DECAY["qlae"], jit_compile=jit_compile, name="ae",
    )


def time_training(model_name: str, architecture: str, jit_compile: bool, dataset: tf.data.Dataset) -> dict:
    """Median (and every) seconds per training step over the timed `fit` calls."""
    keras.utils.set_random_seed(FLAGS.seed)
    model = build_model(model_name, architecture, jit_compile)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    warmup_seconds = time.perf_counter() - start
    per_step = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        per_step.append((time.perf_counter() - start) / FLAGS.steps)
    keras.backend.clear_session()
    return {
        "model": model_name,
        "architecture": architecture,
        "jit_compile": jit_compile,
        "seconds_per_step": statistics.median(per_step),
        "seconds_per_step_all": per_step,
        "warmup_seconds": warmup_seconds,
    }


def time_quantizer(jit_compile: bool) -> dict:
    """Median microseconds of one forward + backward pass of `LatentQuantization` alone."""
    keras.utils.set_random_seed(FLAGS.seed)
    layer = LatentQuantization(num_values=FLAGS.num_values)
    latents = tf.random.uniform((FLAGS.batch_size, FLAGS.num_latents), -0.6, 0.6, seed=FLAGS.seed)
    layer(latents)  # build

    @tf.function(jit_compile=jit_compile)
    def forward_backward(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs)
            # A downstream loss on the straight-through output plus the layer's own added loss.
            loss = tf.reduce_mean(tf.square(outputs)) + tf.add_n(layer.losses)
        return tape.gradient(loss, [inputs, layer.codebook])

    for _ in range(10):
        gradients = forward_backward(latents)
    _ = [g.numpy() for g in gradients]
    per_call = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        for _ in range(FLAGS.layer_calls):
            gradients = forward_backward(latents)
        _ = [g.numpy() for g in gradients]  # wait for the last call
        per_call.append((time.perf_counter() - start) / FLAGS.layer_calls)
    return {
        "jit_compile": jit_compile,
        "microseconds_per_call": statistics.median(per_call) * 1e6,
        "microseconds_per_call_all": [s * 1e6 for s in per_call],
    }


def main(argv: list[str]) -> None:
    del argv
    for architecture in FLAGS.architectures:
        if architecture not in ("small", "paper"):
            raise ValueError(f"--architectures: unknown architecture {architecture!r}; valid: small, paper")
    command = "python " + " ".join(shlex.quote(arg) for arg in sys.argv)
    devices = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
    machine = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": devices,
        "load_average_before": os.getloadavg(),
    }
    dataset = synthetic_dataset(FLAGS.batch_size, FLAGS.seed)

    results = []
    for architecture in FLAGS.architectures:
        for jit_compile in (False, True):
            for model_name in ("qlae", "ae"):
                result = time_training(model_name, architecture, jit_compile, dataset)
                results.append(result)
                print(
                    f"  timed {model_name} {architecture} jit={jit_compile}: "
                    f"{result['seconds_per_step'] * 1e3:.1f} ms/step (warm-up {result['warmup_seconds']:.1f} s)",
                    flush=True,
                )
    by_key = {(r["model"], r["architecture"], r["jit_compile"]): r for r in results}
    for result in results:
        if result["model"] == "qlae":
            qlae = result["seconds_per_step"]
            ae = by_key[("ae", result["architecture"], result["jit_compile"])]["seconds_per_step"]
            # share = (QLAE step - AE step) / QLAE step
            result["quantizer_share"] = (qlae - ae) / qlae

    layer_results = [time_quantizer(jit_compile) for jit_compile in (False, True)]
    machine["load_average_after"] = os.getloadavg()

    print()
    print(f"Command: `{command}`")
    print(
        f"Machine: {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}, "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}, devices {devices}; load average "
        f"before {' '.join(f'{x:.2f}' for x in machine['load_average_before'])}, after "
        f"{' '.join(f'{x:.2f}' for x in machine['load_average_after'])}"
    )
    print(
        f"Batch {FLAGS.batch_size} of 64x64x1 random binary images, {FLAGS.num_latents} latents x "
        f"{FLAGS.num_values} values; median of {FLAGS.repeats} fits of {FLAGS.steps} steps after "
        f"{FLAGS.warmup} warm-up steps."
    )
    print()
    print("| model | architecture | jit | ms/step | steps/s | quantizer share |")
    print("|---|---|---|---:|---:|---:|")
    for result in results:
        seconds = result["seconds_per_step"]
        share = f"{result['quantizer_share'] * 100:.1f}%" if "quantizer_share" in result else "-"
        print(
            f"| {result['model']} | {result['architecture']} | {result['jit_compile']} | "
            f"{seconds * 1e3:.1f} | {1 / seconds:.2f} | {share} |"
        )
    print()
    print(f"LatentQuantization alone, forward + backward on a ({FLAGS.batch_size}, {FLAGS.num_latents}) batch:")
    print()
    print("| jit | us/call |")
    print("|---|---:|")
    for result in layer_results:
        print(f"| {result['jit_compile']} | {result['microseconds_per_call']:.1f} |")

    if FLAGS.output:
        with open(FLAGS.output, "w") as file:
            json.dump(
                {
                    "command": command,
                    "machine": machine,
                    "flags": {name: FLAGS[name].value for name in (
                        "architectures", "batch_size", "num_latents", "num_values", "steps", "warmup",
                        "repeats", "layer_calls", "seed",
                    )},
                    "training": results,
                    "quantizer_layer": layer_results,
                },
                file,
                indent=2,
            )
        print(f"\nwrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
