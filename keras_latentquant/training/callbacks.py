"""Keras callbacks of the training core."""

from __future__ import annotations

import json
import os
import shutil
import time

import keras
import numpy as np

from keras_latentquant.training.evaluation import evaluate_model

__all__ = ["DisentanglementEvaluation", "GANSnapshots", "format_scores"]


def format_scores(scores: dict) -> str:
    """`InfoM 0.422  InfoE 0.464  InfoC 0.151  PSNR 24.06 dB`, with the terms the scores hold."""
    parts = [f"{label} {scores[key]:.3f}" for label, key in (("InfoM", "infom"), ("InfoE", "infoe"), ("InfoC", "infoc"))
             if key in scores]
    if "psnr" in scores:
        parts.append(f"PSNR {scores['psnr']:.2f} dB")
    return "  ".join(parts)


class DisentanglementEvaluation(keras.callbacks.Callback):
    """Scores the model on held-out samples at the end of every epoch (= every eval interval).

    The scores (`eval_infom`, `eval_infoe`, `eval_infoc`, and `eval_psnr` for an autoencoder) are added to the epoch logs, so
    they reach `History`, the progress line and TensorBoard (put this callback before TensorBoard's),
    and each evaluation is appended as a JSON line to `<output_dir>/evaluations.jsonl`.

    Args:
        images: held-out float images `(N, H, W, C)` in [0, 1].
        factors: their integer factor labels `(N, K)`.
        steps_per_epoch: steps in one epoch, to report the global step.
        log_path: JSON-lines file to append evaluations to (None: do not write).
    """

    def __init__(self, images: np.ndarray, factors: np.ndarray, steps_per_epoch: int, log_path: str | None = None):
        super().__init__()
        self.images = images
        self.factors = factors
        self.steps_per_epoch = steps_per_epoch
        self.log_path = log_path
        self.last = None

    def on_epoch_end(self, epoch, logs=None):
        start = time.time()
        scores = evaluate_model(self.model, self.images, self.factors)
        step = (epoch + 1) * self.steps_per_epoch
        self.last = {"step": step, **scores}
        if logs is not None:
            for key in ("infom", "infoe", "infoc", "psnr"):
                if key in scores:
                    logs[f"eval_{key}"] = scores[key]
        print(
            f"\n[eval step {step}] {format_scores(scores)}  ({time.time() - start:.1f} s, "
            f"{len(self.images)} held-out samples, {scores['latents']} latents)",
            flush=True,
        )
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self.last) + "\n")


class GANSnapshots(keras.callbacks.Callback):
    """Writes an InfoGAN's sample grid and latent traversals at the end of every epoch.

    The latents are fixed at the start (the same codes, or the same continuous values, every time), so
    successive grids show training progress on the same samples. QLInfoGAN keeps the codes and decodes
    them with the current codebook. PNGs go to `<output_dir>/images/step_<step>_{samples,traversals}.png`
    and `<output_dir>/{samples,traversals}.png` (the latest); with `log_dir`, also to TensorBoard's image
    tab (`samples`, `traversals`) in `<log_dir>/images`.

    Args:
        output_dir: run folder.
        steps_per_epoch: steps in one epoch, to report the global step.
        num_samples: images in the sample grid (a square-ish grid).
        seed: seed of the fixed latents.
        log_dir: TensorBoard folder, or None.
    """

    def __init__(self, output_dir: str, steps_per_epoch: int, num_samples: int = 64, seed: int = 0, log_dir=None):
        super().__init__()
        self.output_dir = output_dir
        self.steps_per_epoch = steps_per_epoch
        self.num_samples = num_samples
        self.seed = seed
        self.log_dir = log_dir
        self._fixed = None
        self._writer = None

    def _fixed_latents(self):
        if self._fixed is None:
            import tensorflow as tf

            seed = tf.constant([self.seed, 2**31 - 1], tf.int64)  # a stream the training draws never use
            values, codes = self.model.sample_latents(self.num_samples + 1, seed=seed)
            self._fixed = (np.asarray(values), None if codes is None else np.asarray(codes))
        return self._fixed

    def _latents(self):
        values, codes = self._fixed_latents()
        if codes is not None:  # current codebook values of the fixed codes
            values = keras.ops.convert_to_numpy(self.model.quantizer.decode_codes(codes))
        return values

    def write(self, step: int) -> dict:
        """Renders and saves both grids now; returns their paths."""
        from keras_latentquant import plotting

        latents = self._latents()
        samples = self.model.generate(latents[1:])
        columns = int(np.ceil(np.sqrt(len(samples))))
        rows = int(np.ceil(len(samples) / columns))
        padded = np.concatenate([samples, np.zeros((rows * columns - len(samples),) + samples.shape[1:], samples.dtype)])
        grid = padded.reshape((rows, columns) + samples.shape[1:])
        grid_latents, labels = self.model.traversal_latents(latents[0])
        traversals = self.model.generate(grid_latents.reshape(-1, grid_latents.shape[-1]))
        traversals = traversals.reshape(grid_latents.shape[:2] + traversals.shape[1:])
        name = self.model.name
        paths = {}
        folder = os.path.join(self.output_dir, "images")
        for kind, images, extra in (
            ("samples", grid, {"title": f"{name}: samples from the prior, step {step}"}),
            ("traversals", traversals, {
                "row_labels": [f"z{j}" for j in range(len(traversals))], "column_labels": labels,
                "title": f"{name}: traversals, step {step} (rows: latent; columns: value)",
            }),
        ):
            # Rendered once; the latest copy beside the run's other outputs is a file copy.
            history = plotting.save_image_grid(images, os.path.join(folder, f"step_{step:07d}_{kind}.png"), **extra)
            paths[kind] = shutil.copyfile(history, os.path.join(self.output_dir, f"{kind}.png"))
        if self.log_dir:
            self._log_images(step, grid, traversals)
        return paths

    def _log_images(self, step, grid, traversals):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "images"))

        def tile(images):  # (rows, columns, H, W, C) -> one (rows*H, columns*W, C) image
            rows, columns, height, width, channels = images.shape
            return images.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)

        with self._writer.as_default():
            tf.summary.image("samples", tile(grid)[None], step=step)
            tf.summary.image("traversals", tile(traversals)[None], step=step)
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.write((epoch + 1) * self.steps_per_epoch)
