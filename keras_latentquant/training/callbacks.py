"""Keras callbacks of the training core."""

from __future__ import annotations

import json
import time

import keras
import numpy as np

from keras_latentquant.training.evaluation import evaluate_autoencoder

__all__ = ["DisentanglementEvaluation"]


class DisentanglementEvaluation(keras.callbacks.Callback):
    """Scores the model on held-out samples at the end of every epoch (= every eval interval).

    The scores (`eval_infom`, `eval_infoe`, `eval_infoc`, `eval_psnr`) are added to the epoch logs, so
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
        scores = evaluate_autoencoder(self.model, self.images, self.factors)
        step = (epoch + 1) * self.steps_per_epoch
        self.last = {"step": step, **scores}
        if logs is not None:
            for key in ("infom", "infoe", "infoc", "psnr"):
                logs[f"eval_{key}"] = scores[key]
        print(
            f"\n[eval step {step}] InfoM {scores['infom']:.3f}  InfoE {scores['infoe']:.3f}  "
            f"InfoC {scores['infoc']:.3f}  PSNR {scores['psnr']:.2f} dB  ({time.time() - start:.1f} s, "
            f"{len(self.images)} held-out samples, {scores['latents']} latents)",
            flush=True,
        )
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self.last) + "\n")
