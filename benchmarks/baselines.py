"""Train QLAE and the paper's baselines on one dataset at the same budget, and tabulate their scores.

    python benchmarks/baselines.py --steps=1000 --output_dir=runs/baselines

Every model is trained by the library's one training path (`keras_latentquant.training.run.train`,
i.e. `model.fit`) with the same data, architecture, batch size, step budget and seed; only the
bottleneck and the model's own defaults differ. Prints a Markdown table of InfoM / InfoE / InfoC /
PSNR on the held-out samples (plus the ARD-VAE's kept axes) and writes it to `<output_dir>/table.md`.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["qlae", "ae", "vae", "beta_vae", "beta_tcvae", "bioae", "vqvae", "ard_vae", "fsq",
     "qlae_no_weight_decay", "ae_weight_decay", "qlae_global_codebook", "qlae_frozen_codebook", "vqvae_weight_decay"],
    "Registered models to train, in table order.",
)
flags.DEFINE_string("dataset", "procedural_dsprites", "Registered dataset name.")
flags.DEFINE_string("dataset_config", "sample_50k", "Builder config.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_string("architecture", "fast", "Encoder/decoder architecture: paper, paper_small or fast.")
flags.DEFINE_integer("steps", 1000, "Training steps per model.")
flags.DEFINE_integer("eval_interval", None, "Steps between evaluations (default: --steps).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("eval_samples", 5000, "Held-out samples scored.")
flags.DEFINE_integer("seed", 0, "Seed (the same for every model).")
flags.DEFINE_string("output_dir", "runs/baselines", "One sub-folder per model, and table.md.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import keras

    from keras_latentquant.training.config import TrainConfig
    from keras_latentquant.training.run import train

    rows = []
    for name in FLAGS.models:
        keras.backend.clear_session()
        start = time.time()
        metrics = train(
            TrainConfig(
                output_dir=os.path.join(FLAGS.output_dir, name),
                dataset=FLAGS.dataset,
                dataset_config=FLAGS.dataset_config,
                data_dir=FLAGS.data_dir,
                model=name,
                architecture=FLAGS.architecture,
                batch_size=FLAGS.batch_size,
                steps=FLAGS.steps,
                eval_interval=FLAGS.eval_interval or FLAGS.steps,
                eval_samples=FLAGS.eval_samples,
                seed=FLAGS.seed,
                verbose=2,
            )
        )
        final = metrics["final"]
        kept = metrics.get("active_axes")
        rows.append(
            f"| {name} | {final['infom']:.3f} | {final['infoe']:.3f} | {final['infoc']:.3f} | "
            f"{final['psnr']:.2f} | {final['latents']} | "
            f"{'' if kept is None else f'{sum(kept)} of {len(kept)}: ' + str([j for j, on in enumerate(kept) if on])} | "
            f"{time.time() - start:.0f} |"
        )
        print(rows[-1], flush=True)
    header = [
        f"{FLAGS.dataset}/{FLAGS.dataset_config}, {FLAGS.architecture} architecture, batch {FLAGS.batch_size}, "
        f"{FLAGS.steps} steps, seed {FLAGS.seed}, {FLAGS.eval_samples} held-out samples.",
        "",
        "| model | InfoM | InfoE | InfoC | PSNR (dB) | latents scored | ARD axes kept | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    table = "\n".join(header + rows) + "\n"
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, "table.md"), "w", encoding="utf-8") as handle:
        handle.write(table)
    print("\n" + table)
    print(json.dumps({"command": " ".join(sys.argv)}))


if __name__ == "__main__":
    app.run(main)
