"""Training speed of each dtype policy, side by side: images/s wall and images per CPU-second.

    python benchmarks/precision_speed.py --architectures=fast,paper --precisions=float32,mixed_bfloat16

For every architecture the script builds one model per precision (same seed, `models.catalogue.build_model`),
warms each up, then times `--repeats` interleaved `fit` calls of `--steps` steps on one fixed batch of
random binary 64x64 images (no input pipeline in the measurement), and reports the medians. Interleaving puts
every precision under the same machine load; the table states the load average before and after.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("architectures", ["fast", "paper"], "architectures to time")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "dtype policies to time")
flags.DEFINE_string("model", "qlae", "catalogued autoencoder to time")
flags.DEFINE_integer("batch_size", 64, "training batch size")
flags.DEFINE_integer("steps", 10, "timed steps per repeat")
flags.DEFINE_integer("warmup", 3, "warm-up steps (tracing) before timing")
flags.DEFINE_integer("repeats", 3, "interleaved timed repeats; the median is reported")
flags.DEFINE_integer("seed", 0, "seed of the images and the weights")

IMAGE_SHAPE = (64, 64, 1)


def main(argv):
    del argv
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_latentquant.models.catalogue import PRECISIONS, build_model

    unknown = [p for p in FLAGS.precisions if p not in PRECISIONS]
    if unknown:
        raise app.UsageError(f"--precisions: unknown {unknown}; valid: {', '.join(PRECISIONS)}.")
    rng = np.random.default_rng(FLAGS.seed)
    images = (rng.random((FLAGS.batch_size, *IMAGE_SHAPE)) < 0.5).astype("float32")
    dataset = tf.data.Dataset.from_tensors((images, images)).repeat()
    load_before = os.getloadavg()
    rows = []
    for architecture in FLAGS.architectures:
        models = {}
        for precision in FLAGS.precisions:
            keras.utils.set_random_seed(FLAGS.seed)
            models[precision] = build_model(FLAGS.model, IMAGE_SHAPE, 10, architecture, precision=precision)
            models[precision].fit(dataset, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
        wall = {precision: [] for precision in models}
        cpu = {precision: [] for precision in models}
        for _ in range(FLAGS.repeats):
            for precision, model in models.items():
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
                wall[precision].append(time.perf_counter() - start_wall)
                cpu[precision].append(time.process_time() - start_cpu)
        for precision in models:
            images_done = FLAGS.steps * FLAGS.batch_size
            rows.append((architecture, precision, images_done / statistics.median(wall[precision]),
                         images_done / statistics.median(cpu[precision])))
            print(f"  {architecture} {precision}: {rows[-1][2]:.1f} images/s wall, {rows[-1][3]:.1f} per CPU-s",
                  flush=True)
        keras.backend.clear_session()
    print(f"\n{FLAGS.model}, batch {FLAGS.batch_size}, {FLAGS.repeats} interleaved repeats of {FLAGS.steps} steps "
          f"(medians); {os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| architecture | precision | images/s (wall) | images per CPU-second | wall vs float32 |")
    print("| --- | --- | --- | --- | --- |")
    baseline = {architecture: speed for architecture, precision, speed, _ in rows if precision == "float32"}
    for architecture, precision, speed, per_cpu in rows:
        ratio = f"{speed / baseline[architecture]:.2f}x" if architecture in baseline else "-"
        print(f"| {architecture} | {precision} | {speed:.1f} | {per_cpu:.1f} | {ratio} |")


if __name__ == "__main__":
    app.run(main)
