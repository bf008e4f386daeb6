"""Size and speed of each architecture: parameters, multiply-adds per image, training images per second.

For every name in `--architectures` the script builds QLAE (`build_qlae`, 10 latents, 10 values) and reports

- parameters of the encoder, the decoder and in all (the quantizer's 100 codebook values included in all);
- multiply-adds per image of one forward pass, counted from the layers' shapes: a convolution costs
  `output pixels x kernel size`, a transposed convolution `input pixels x kernel size`, a dense layer (the
  style block's affine map included) `input rows x kernel size`. Normalisation, activations and the
  quantizer are left out (each under 1% of the total here). A training step costs about three times the
  forward pass (forward, gradient of the inputs, gradient of the weights);
- training images per second: `fit` on one repeated batch of `--batch_size` random binary 64x64 images (no
  input cost), after a warm-up, median of `--repeats` repeats of `--steps` steps, with the process's CPU
  seconds per step beside the wall seconds (on a shared machine the CPU time is the steadier figure).

Prints a markdown table, the machine and the command; `--output` also writes JSON. Run:

    python benchmarks/architectures.py --architectures=fast,paper,paper_small --steps=5 --repeats=3
"""

from __future__ import annotations

import json
import math
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

from keras_latentquant.models.catalogue import build_qlae
from keras_latentquant.models.layers_internal import ARCHITECTURES, StyleModulation

IMAGE_SHAPE = (64, 64, 1)

FLAGS = flags.FLAGS
flags.DEFINE_list("architectures", list(ARCHITECTURES), "architectures to measure")
flags.DEFINE_integer("batch_size", 64, "training batch size (the quickstart's)")
flags.DEFINE_integer("steps", 5, "timed training steps per repeat")
flags.DEFINE_integer("warmup", 2, "warm-up steps before timing")
flags.DEFINE_integer("repeats", 3, "timed repeats; the median is reported")
flags.DEFINE_string("output", None, "optional path of a JSON file with every measurement")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image through `model` (a functional model, nested ones
    counted through), from its layers' input and output shapes."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            total += math.prod(layer.input.shape[1:3]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Conv2D):
            total += math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.input.shape[1:-1]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, StyleModulation):
            total += math.prod(layer.kernel.shape)
    return total


def measure(architecture: str) -> dict:
    keras.utils.set_random_seed(0)
    model = build_qlae(IMAGE_SHAPE, 10, architecture, num_values=10)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    images = (np.random.default_rng(0).random((FLAGS.batch_size, *IMAGE_SHAPE)) < 0.5).astype("float32")
    dataset = tf.data.Dataset.from_tensors((images, images)).repeat()
    model.fit(dataset, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    walls, cpus = [], []
    for _ in range(FLAGS.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        walls.append((time.perf_counter() - wall) / FLAGS.steps)
        cpus.append((time.process_time() - cpu) / FLAGS.steps)
    result = {
        "architecture": architecture,
        "encoder_parameters": encoder.count_params(),
        "decoder_parameters": decoder.count_params(),
        "parameters": model.count_params(),
        "encoder_multiply_adds": multiply_adds(encoder),
        "decoder_multiply_adds": multiply_adds(decoder),
        "seconds_per_step": statistics.median(walls),
        "cpu_seconds_per_step": statistics.median(cpus),
        "seconds_per_step_all": walls,
    }
    result["multiply_adds"] = result["encoder_multiply_adds"] + result["decoder_multiply_adds"]
    result["images_per_second"] = FLAGS.batch_size / result["seconds_per_step"]
    keras.backend.clear_session()
    return result


def main(argv):
    del argv
    results = [measure(name) for name in FLAGS.architectures]
    print(f"\nQLAE, batch {FLAGS.batch_size}, 64x64x1, {FLAGS.steps} steps x {FLAGS.repeats} repeats (median)\n")
    print("| architecture | parameters (encoder + decoder) | multiply-adds / image (forward) "
          "| train images/s | s/step wall | CPU s/step |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['architecture']} | {r['parameters'] / 1e6:.2f} M ({r['encoder_parameters'] / 1e6:.2f} + "
              f"{r['decoder_parameters'] / 1e6:.2f}) | {r['multiply_adds'] / 1e6:.0f} M "
              f"({r['encoder_multiply_adds'] / 1e6:.0f} + {r['decoder_multiply_adds'] / 1e6:.0f}) "
              f"| {r['images_per_second']:.0f} | {r['seconds_per_step']:.3f} | {r['cpu_seconds_per_step']:.3f} |")
    machine = {
        "platform": platform.platform(), "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    print(f"\nmachine: {machine}\ncommand: python {' '.join(shlex.quote(a) for a in sys.argv)}")
    if FLAGS.output:
        with open(FLAGS.output, "w", encoding="utf-8") as handle:
            json.dump({"results": results, "machine": machine, "argv": sys.argv}, handle, indent=2)


if __name__ == "__main__":
    app.run(main)
