"""Training throughput of QLAE against the same autoencoder without the quantizer (issue 8, parts 1-2).

Three measurements:

1. **Step time.** For every architecture in `--architectures` and for `jit_compile` False and True, the
   script builds QLAE (`build_qlae`) and the same autoencoder with no bottleneck (`build_autoencoder(None,
   ...)` with QLAE's optimizer settings, weight decay included, so the quantizer is the only difference),
   and times training on one batch of `--batch_size` synthetic random binary 64x64x1 images held in
   `tf.data.Dataset.from_tensors(batch).repeat()` (no input cost). After a warm-up `fit` (tracing, XLA
   compilation), the two models are timed in **interleaved** repeats (QLAE, AE, QLAE, AE, ...: a load change
   on a shared machine hits both alike) of `fit(..., steps_per_epoch=--steps)`. Each repeat records wall
   time and the process's CPU time (all threads); medians are reported. On a busy or throttled CPU the wall
   times land on coarse slices, so the CPU time per step is the steadier measure of the work a step does. The
   quantizer's share of the step is `(QLAE step - AE step) / QLAE step`, from CPU time and from wall time.
   The `LatentQuantization` layer is also timed alone: forward + backward (gradients for the input and the
   codebook, its added loss included) on a `(--batch_size, --num_latents)` batch in a `tf.function`.

2. **Data wait.** QLAE trained from the library's real input pipeline (`load_dataset`: parallel decode map,
   cache, shuffle, batch, prefetch) on `--data_dataset/--data_config`, stepped by hand: each batch is
   fetched with `iterator.get_next()`, then handed to Keras's own compiled train function (in `fit` the
   fetch sits inside that function; taking it out lets it be timed alone). The share of wall time spent in
   `get_next` is the time the model waited for data. The same with a naive pipeline (sequential map, no
   cache, no prefetch) shows what the pipeline's parallelism and prefetching buy.

3. **Profiled share.** QLAE's train step (without XLA, which fuses the step into one op) run under the
   TensorFlow profiler: the time of every op of the step, and the part under the quantizer's name scope
   (forward ops, their gradients, its two losses and its monitored values), plus the codebook's optimizer
   update, estimated as the optimizer's op time divided by the number of trained variables (the optimizer's
   ops carry no variable names). This measures the quantizer's share directly, not as a difference of two
   step times.

4. **Step audit.** The train step (`model.train_step` traced by `tf.function`, as `fit` does) is inspected
   op by op, nested functions included: any op that runs Python (`PyFunc`, `EagerPyFunc`), prints, or copies
   to the host is listed. A clean step has none, so nothing leaves the device inside a step.

Prints markdown tables, machine information and the exact command; `--output` also writes JSON. Run:

    python benchmarks/throughput.py --architectures=fast,paper --steps=20 --repeats=5

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
from keras_latentquant.models.autoencoders import build_autoencoder, compile_autoencoder
from keras_latentquant.models.catalogue import MODELS, PRECISIONS, build_qlae, dtype_policy
from keras_latentquant.models.layers_internal import ARCHITECTURES
from keras_latentquant.training.step_audit import HOST_OPS, profile_train_step, scope_seconds, train_step_op_counts

IMAGE_SHAPE = (64, 64, 1)

FLAGS = flags.FLAGS
flags.DEFINE_list("architectures", ["fast"], "encoder/decoder architectures to time: fast, paper_small, paper")
flags.DEFINE_integer("batch_size", 128, "training batch size")
flags.DEFINE_integer("num_latents", 10, "latent dimensions (and the width of the quantizer's batch)")
flags.DEFINE_integer("num_values", 10, "codebook values per latent dimension")
flags.DEFINE_integer("steps", 20, "timed training steps per repeat")
flags.DEFINE_integer("warmup", 3, "warm-up training steps before timing (tracing and compilation)")
flags.DEFINE_integer("repeats", 3, "timed repeats; the median is reported")
flags.DEFINE_integer("profile_steps", 5, "steps of the profiled QLAE step breakdown (0 skips it)")
flags.DEFINE_integer("layer_calls", 200, "calls per repeat when timing the quantizer layer alone")
flags.DEFINE_integer("seed", 0, "seed of the synthetic images and the weights")
flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "Keras dtype policy the timed models are built under")
flags.DEFINE_string("output", None, "optional path of a JSON file with every measurement")
flags.DEFINE_string("data_dataset", "procedural_dsprites", "dataset of the data-wait measurement ('' skips it)")
flags.DEFINE_string("data_config", "sample_10k", "builder config of the data-wait measurement")
flags.DEFINE_string("data_dir", None, "TFDS data directory of the data-wait measurement")
flags.DEFINE_integer("data_steps", 60, "training steps of the data-wait measurement (after 5 warm-up steps)")


def synthetic_dataset(batch_size: int, seed: int) -> tf.data.Dataset:
    """One batch of random binary images, repeated forever: `(images, images)` pairs."""
    rng = np.random.default_rng(seed)
    images = (rng.random((batch_size, *IMAGE_SHAPE)) < 0.5).astype("float32")
    return tf.data.Dataset.from_tensors((images, images)).repeat()


def build_model(model_name: str, architecture: str, jit_compile: bool) -> keras.Model:
    if model_name == "qlae":
        return build_qlae(
            IMAGE_SHAPE, FLAGS.num_latents, architecture, num_values=FLAGS.num_values, jit_compile=jit_compile,
            precision=FLAGS.precision,
        )
    # The AE baseline with QLAE's optimizer (weight decay included): only the quantizer differs.
    with dtype_policy(FLAGS.precision):
        model = build_autoencoder(None, IMAGE_SHAPE, FLAGS.num_latents, architecture=architecture, name="ae")
    qlae = MODELS["qlae"]
    return compile_autoencoder(model, qlae.learning_rate, qlae.defaults()["weight_decay"], jit_compile=jit_compile)


def _timed_fit(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per step of one `fit` of `steps` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def time_training_pair(architecture: str, jit_compile: bool, dataset: tf.data.Dataset) -> list[dict]:
    """QLAE and AE of one architecture/jit setting, timed in interleaved repeats (median wall and CPU)."""
    models = {}
    warmup = {}
    for name in ("qlae", "ae"):
        keras.utils.set_random_seed(FLAGS.seed)
        models[name] = build_model(name, architecture, jit_compile)
        start = time.perf_counter()
        models[name].fit(dataset, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
        warmup[name] = time.perf_counter() - start
    measured = {name: {"wall": [], "cpu": []} for name in models}
    for _ in range(FLAGS.repeats):
        for name, model in models.items():
            wall, cpu = _timed_fit(model, dataset, FLAGS.steps)
            measured[name]["wall"].append(wall)
            measured[name]["cpu"].append(cpu)
    results = []
    for name in models:
        results.append({
            "model": name,
            "architecture": architecture,
            "jit_compile": jit_compile,
            "seconds_per_step": statistics.median(measured[name]["wall"]),
            "seconds_per_step_all": measured[name]["wall"],
            "cpu_seconds_per_step": statistics.median(measured[name]["cpu"]),
            "cpu_seconds_per_step_all": measured[name]["cpu"],
            "warmup_seconds": warmup[name],
        })
    qlae, ae = results
    # share = (QLAE step - AE step) / QLAE step, of the medians and per interleaved pair (median, range)
    pairs = [(q - a) / q for q, a in zip(measured["qlae"]["cpu"], measured["ae"]["cpu"])]
    qlae["quantizer_share_cpu_pairs"] = pairs
    qlae["quantizer_share"] = (qlae["seconds_per_step"] - ae["seconds_per_step"]) / qlae["seconds_per_step"]
    qlae["quantizer_share_cpu"] = (
        (qlae["cpu_seconds_per_step"] - ae["cpu_seconds_per_step"]) / qlae["cpu_seconds_per_step"]
    )
    keras.backend.clear_session()
    return results


def naive_dataset(name: str, config: str, data_dir, batch_size: int) -> tf.data.Dataset:
    """The same examples as `load_dataset`, decoded one at a time, no cache, no prefetch (the baseline)."""
    from keras_latentquant.datasets.pipeline import get_builder

    builder = get_builder(name, config, data_dir)
    dataset = builder.as_dataset(split="train", shuffle_files=False)
    dataset = dataset.map(lambda example: (tf.cast(example["image"], tf.float32) / 255.0,) * 2)
    options = tf.data.Options()
    options.autotune.enabled = False  # no autotuned parallelism or buffers: one element at a time
    return dataset.repeat().batch(batch_size, drop_remainder=True).with_options(options)


def time_data_wait(pipeline: str, dataset: tf.data.Dataset, architecture: str) -> dict:
    """QLAE stepped by hand on `dataset`: wall seconds per step and the share spent waiting in `get_next`."""
    keras.utils.set_random_seed(FLAGS.seed)
    model = build_model("qlae", architecture, False)
    model.make_train_function()
    train_function = model.train_function
    iterator = iter(dataset)

    def step():
        fetch = time.perf_counter()
        batch = iterator.get_next()
        fetched = time.perf_counter()
        outputs = train_function([batch])  # a Python iterable: Keras runs its compiled one-step function
        float(keras.ops.convert_to_numpy(outputs["loss"]))  # the step has finished
        return fetched - fetch, time.perf_counter() - fetch

    for _ in range(5):
        step()
    waits, totals = zip(*(step() for _ in range(FLAGS.data_steps)))
    keras.backend.clear_session()
    return {
        "pipeline": pipeline,
        "architecture": architecture,
        "seconds_per_step": sum(totals) / len(totals),
        "wait_seconds_per_step": sum(waits) / len(waits),
        "wait_share": sum(waits) / sum(totals),
    }


def profile_step(architecture: str, dataset: tf.data.Dataset) -> dict:
    """QLAE's op time per step (profiler, no XLA): in all, in the quantizer, in the optimizer."""
    keras.utils.set_random_seed(FLAGS.seed)
    model = build_model("qlae", architecture, False)
    op_seconds = profile_train_step(model, dataset, FLAGS.profile_steps, warmup_steps=FLAGS.warmup)
    quantizer = next(layer for layer in model.layers if isinstance(layer, LatentQuantization))
    steps = FLAGS.profile_steps
    total = sum(op_seconds.values()) / steps
    in_scope = scope_seconds(op_seconds, quantizer.name) / steps
    optimizer = scope_seconds(op_seconds, model.optimizer.name) / steps
    num_variables = len(model.trainable_variables)
    codebook_update = optimizer / num_variables
    result = {
        "architecture": architecture,
        "op_seconds_per_step": total,
        "quantizer_scope_seconds_per_step": in_scope,
        "optimizer_seconds_per_step": optimizer,
        "trainable_variables": num_variables,
        "codebook_update_seconds_per_step": codebook_update,
        "encoder_seconds_per_step": scope_seconds(op_seconds, "encoder") / steps,
        "decoder_seconds_per_step": scope_seconds(op_seconds, "decoder") / steps,
        "quantizer_share": (in_scope + codebook_update) / total,
    }
    keras.backend.clear_session()
    return result


def audit_step(architecture: str) -> dict:
    """Op types of QLAE's and AE's train steps, and the host-side ops found (should be none)."""
    rng = np.random.default_rng(FLAGS.seed)
    images = tf.constant((rng.random((FLAGS.batch_size, *IMAGE_SHAPE)) < 0.5).astype("float32"))
    result = {"architecture": architecture}
    for name in ("qlae", "ae"):
        model = build_model(name, architecture, False)
        counts = train_step_op_counts(model, (images, images))
        result[name] = {
            "ops": sum(counts.values()),
            "host_ops": {op: n for op, n in counts.items() if op in HOST_OPS},
        }
        keras.backend.clear_session()
    result["ops_added_by_quantizer"] = result["qlae"]["ops"] - result["ae"]["ops"]
    return result


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
        if architecture not in ARCHITECTURES:
            raise ValueError(f"--architectures: unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
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
            for result in time_training_pair(architecture, jit_compile, dataset):
                results.append(result)
                print(
                    f"  timed {result['model']} {architecture} jit={jit_compile}: "
                    f"{result['seconds_per_step'] * 1e3:.1f} ms/step wall, "
                    f"{result['cpu_seconds_per_step'] * 1e3:.1f} ms/step CPU "
                    f"(warm-up {result['warmup_seconds']:.1f} s)",
                    flush=True,
                )
    layer_results = [time_quantizer(jit_compile) for jit_compile in (False, True)]
    profiles = [profile_step(architecture, dataset) for architecture in FLAGS.architectures] if FLAGS.profile_steps else []
    audits = [audit_step(architecture) for architecture in FLAGS.architectures]

    data_results = []
    if FLAGS.data_dataset:
        from keras_latentquant.datasets.pipeline import load_dataset

        for architecture in FLAGS.architectures:
            pipelines = {
                "library (parallel map, cache, prefetch)": load_dataset(
                    FLAGS.data_dataset, FLAGS.data_config, data_dir=FLAGS.data_dir, batch_size=FLAGS.batch_size,
                    seed=FLAGS.seed,
                ),
                "naive (sequential map, no cache, no prefetch)": naive_dataset(
                    FLAGS.data_dataset, FLAGS.data_config, FLAGS.data_dir, FLAGS.batch_size
                ),
            }
            for label, pipeline in pipelines.items():
                result = time_data_wait(label, pipeline, architecture)
                data_results.append(result)
                print(
                    f"  data wait {architecture} {label}: {result['wait_share'] * 100:.1f}% of "
                    f"{result['seconds_per_step'] * 1e3:.1f} ms/step",
                    flush=True,
                )
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
        f"{FLAGS.num_values} values; medians of {FLAGS.repeats} interleaved fits of {FLAGS.steps} steps after "
        f"{FLAGS.warmup} warm-up steps."
    )
    print()
    print(
        "| model | architecture | jit | ms/step (wall) | steps/s | ms/step (CPU) | quantizer share (CPU) | "
        "share per pair (CPU: median [min, max]) | quantizer share (wall) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|---:|")
    for result in results:
        seconds = result["seconds_per_step"]
        share = f"{result['quantizer_share_cpu'] * 100:.1f}%" if "quantizer_share" in result else "-"
        share_wall = f"{result['quantizer_share'] * 100:.1f}%" if "quantizer_share" in result else "-"
        pairs = result.get("quantizer_share_cpu_pairs")
        pair_text = (
            f"{statistics.median(pairs) * 100:.1f}% [{min(pairs) * 100:.1f}, {max(pairs) * 100:.1f}]" if pairs else "-"
        )
        print(
            f"| {result['model']} | {result['architecture']} | {result['jit_compile']} | "
            f"{seconds * 1e3:.1f} | {1 / seconds:.2f} | {result['cpu_seconds_per_step'] * 1e3:.1f} | "
            f"{share} | {pair_text} | {share_wall} |"
        )
    print()
    print(f"LatentQuantization alone, forward + backward on a ({FLAGS.batch_size}, {FLAGS.num_latents}) batch:")
    print()
    print("| jit | us/call |")
    print("|---|---:|")
    for result in layer_results:
        print(f"| {result['jit_compile']} | {result['microseconds_per_call']:.1f} |")
    if profiles:
        print()
        print(
            f"QLAE train step under the TensorFlow profiler (no XLA), op time per step, {FLAGS.profile_steps} steps "
            "after the warm-up; the codebook's optimizer update = optimizer time / trained variables:"
        )
        print()
        print(
            "| architecture | all ops (ms) | encoder (ms) | decoder (ms) | optimizer (ms) | quantizer scope (ms) | "
            "codebook update (ms, est.) | quantizer share |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for profile in profiles:
            print(
                f"| {profile['architecture']} | {profile['op_seconds_per_step'] * 1e3:.1f} | "
                f"{profile['encoder_seconds_per_step'] * 1e3:.1f} | {profile['decoder_seconds_per_step'] * 1e3:.1f} | "
                f"{profile['optimizer_seconds_per_step'] * 1e3:.2f} | "
                f"{profile['quantizer_scope_seconds_per_step'] * 1e3:.3f} | "
                f"{profile['codebook_update_seconds_per_step'] * 1e3:.3f} ({profile['trainable_variables']} variables) | "
                f"{profile['quantizer_share'] * 100:.2f}% |"
            )
    print()
    print("Train-step audit (ops in the traced step, nested functions included; host ops = Python, print,")
    print("summary or host-copy ops):")
    print()
    print("| architecture | QLAE ops | AE ops | added by the quantizer | host ops (QLAE) | host ops (AE) |")
    print("|---|---:|---:|---:|---|---|")
    for audit in audits:
        print(
            f"| {audit['architecture']} | {audit['qlae']['ops']} | {audit['ae']['ops']} | "
            f"{audit['ops_added_by_quantizer']} | {audit['qlae']['host_ops'] or 'none'} | "
            f"{audit['ae']['host_ops'] or 'none'} |"
        )
    if data_results:
        print()
        print(
            f"Data wait: QLAE trained from {FLAGS.data_dataset}/{FLAGS.data_config}, batch {FLAGS.batch_size}, "
            f"{FLAGS.data_steps} steps after 5 warm-up steps:"
        )
        print()
        print("| architecture | pipeline | ms/step | waiting for data (ms/step) | share of step time |")
        print("|---|---|---:|---:|---:|")
        for result in data_results:
            print(
                f"| {result['architecture']} | {result['pipeline']} | {result['seconds_per_step'] * 1e3:.1f} | "
                f"{result['wait_seconds_per_step'] * 1e3:.2f} | {result['wait_share'] * 100:.1f}% |"
            )

    if FLAGS.output:
        with open(FLAGS.output, "w") as file:
            json.dump(
                {
                    "command": command,
                    "machine": machine,
                    "flags": {name: FLAGS[name].value for name in (
                        "architectures", "batch_size", "num_latents", "num_values", "steps", "warmup",
                        "repeats", "profile_steps", "layer_calls", "seed", "data_dataset", "data_config", "data_steps",
                    )},
                    "training": results,
                    "quantizer_layer": layer_results,
                    "profile": profiles,
                    "step_audit": audits,
                    "data_wait": data_results,
                },
                file,
                indent=2,
            )
        print(f"\nwrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
