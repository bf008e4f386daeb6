"""Training of QLInfoGAN and InfoWGAN-GP: config -> data, model, callbacks -> `model.fit` -> outputs.

The GAN counterpart of `training.run.train`: the same data splits, strategies, backups, checkpoints,
TensorBoard and evaluation callback (InfoMEC of the encoder's latent estimate of held-out real images),
plus sample and traversal grids at every evaluation.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from keras_latentquant.datasets import get_dataset_spec
from keras_latentquant.model_files import atomic_path, check_resumable_run
from keras_latentquant.models.infogan import build_infogan
from keras_latentquant.training.callbacks import GANSnapshots, format_scores
from keras_latentquant.training.config import InfoGANConfig, with_reference_defaults
from keras_latentquant.training.distributed import (
    for_this_worker,
    patch_for_multi_worker,
    remove_worker_output_dir,
    shard_by_data,
)
from keras_latentquant.training.run import (
    fit_and_evaluate,
    load_run_data,
    make_strategy,
    run_callbacks,
    write_json_atomic,
)

__all__ = ["train_gan"]


def train_gan(config: InfoGANConfig) -> dict:
    """Trains the GAN a config describes and writes its outputs.

    Writes into `config.output_dir`: `config.json`; `logs/` (TensorBoard scalars, and sample and
    traversal images under `logs/images`); `backup/` (rerunning the same command resumes there);
    `checkpoints/latest.keras`; `evaluations.jsonl`; `images/step_*_{samples,traversals}.png` at every
    evaluation; and at the end `model.keras` (the whole GAN), `generator.keras` (latent -> image, a plain
    functional model), `samples.png`, `traversals.png` and `metrics.json`. Nothing is written before the
    config, the data and the model have been checked; `model.keras` and `generator.keras` are written to a
    temporary name, then renamed. An existing run folder is resumed only with the same config, as in
    `training.run.train` (see `model_files.check_resumable_run`; `steps` may grow).

    Args:
        config: the run's `InfoGANConfig`.

    Returns:
        The final metrics dict (also in `metrics.json`).
    """
    # Everything that can fail on bad input (config, an existing run with other flags, data, model) runs
    # before anything is written, so a bad flag or missing dataset leaves no half-made output folder.
    # Unset dataset-dependent options take the reference's per-dataset values before anything is compared
    # or saved, so config.json records the values the run uses.
    config = with_reference_defaults(config.validate())
    # First TF work of the run: MultiWorkerMirroredStrategy must exist before any other TF op.
    strategy = make_strategy(config.strategy, config.tpu)
    # Multi-worker: only the chief writes into output_dir; the others into output_dir/.workers/<task>.
    run_output_dir, config = config.output_dir, for_this_worker(config)
    check_resumable_run(config.output_dir, dataclasses.asdict(config))
    spec = get_dataset_spec(config.dataset)
    num_latents = config.num_latents or 2 * spec.num_factors
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be divisible by the {replicas} replicas, so every replica's "
            "critic slice has the same size."
        )
    keras.utils.set_random_seed(config.seed)

    # One training step reads critic_steps slices of batch_size real images.
    data = load_run_data(config, mode="images", batch_size=config.critic_steps * config.batch_size)
    builder, eval_images, eval_factors = data.builder, data.eval_images, data.eval_factors

    with strategy.scope():
        model = build_infogan(
            config.model, spec.image_shape, num_latents, config.architecture,
            num_values=config.num_values, quantization_weight=config.quantization_weight,
            commitment_weight=config.commitment_weight, critic_steps=config.critic_steps,
            gradient_penalty_weight=config.gradient_penalty_weight,
            latent_regression_weight=config.latent_regression_weight, prior=config.prior,
            learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
            weight_decay=config.weight_decay, seed=config.seed, jit_compile=config.jit_compile,
        )
    patch_for_multi_worker(model)  # Keras 3.15 fit/predict under MultiWorkerMirroredStrategy (distributed.py)
    os.makedirs(config.output_dir, exist_ok=True)
    write_json_atomic(os.path.join(config.output_dir, "config.json"), dataclasses.asdict(config))
    steps_per_epoch = config.eval_interval
    log_dir = os.path.join(config.output_dir, "logs")
    snapshots = GANSnapshots(
        config.output_dir, steps_per_epoch, num_samples=config.num_samples_shown, seed=config.seed, log_dir=log_dir
    )
    evaluation, callbacks = run_callbacks(config, eval_images, eval_factors, extra=[snapshots])
    print(
        f"model: {config.model} ({config.architecture}), {num_latents} latents, generator "
        f"{model.generator.count_params():,} + critic {model.critic.count_params():,} parameters; "
        f"{config.steps} steps of {config.critic_steps} critic x {config.batch_size} images + 1 generator update, "
        f"on {replicas} replica(s)",
        flush=True,
    )
    # data.train_from(step): a resumed run reads the batches an uninterrupted one would.
    sharded_data = lambda step: shard_by_data(data.train_from(step))  # noqa: E731  (workers split each batch)
    history, train_seconds, final = fit_and_evaluate(model, config, sharded_data, callbacks, evaluation)
    # Final files go to a temporary name, then are renamed: never seen half-written.
    with atomic_path(os.path.join(config.output_dir, "model.keras")) as temporary:
        model.save(temporary)
    with atomic_path(os.path.join(config.output_dir, "generator.keras")) as temporary:
        model.generator.save(temporary)
    paths = snapshots.write(config.steps)

    metrics = {
        "model": config.model,
        "dataset": f"{config.dataset}/{builder.builder_config.name}",
        "steps": config.steps,
        "num_latents": num_latents,
        "train_seconds": round(train_seconds, 1),
        "final": final,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "factor_names": list(spec.factor_names),
    }
    if model.quantized:
        metrics["codebook"] = np.round(keras.ops.convert_to_numpy(model.quantizer.codebook), 4).tolist()
    write_json_atomic(os.path.join(config.output_dir, "metrics.json"), metrics)
    print(
        f"\nfinal ({config.steps} steps, {len(eval_images)} held-out samples, {final['latents']} latents): "
        f"{format_scores(final)}"
    )
    print(
        f"outputs in {config.output_dir}: metrics.json, model.keras, generator.keras, "
        f"{os.path.basename(paths['samples'])}, {os.path.basename(paths['traversals'])}, images/, logs/"
    )
    remove_worker_output_dir(run_output_dir)  # a non-chief worker's copies; nothing on the chief
    return metrics
