"""Reconstruction loss of the autoencoders: binary cross-entropy of pixel logits.

`loss = mean_over_batch( reduce_over_pixels( BCE(sigmoid(logits), x) ) )`, with
`BCE(p, x) = -x log p - (1 - x) log(1 - p)` computed stably from logits. The pixel reduction is a mean
by default: the quantizer's losses are means over latents, and their paper weights (0.01) are relative
to a per-pixel reconstruction loss. With a sum over pixels (nats per image, the convention for a VAE's
KL term) the commitment term is thousands of times weaker and QLAE encodings drift without bound past
the codebook's ends (seen here on procedural dSprites).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ImageBinaryCrossentropy"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class ImageBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of pixel logits against targets in [0, 1], per image.

    Args:
        pixel_reduction: `"mean"` (default) or `"sum"` over each image's pixels.
        name: loss name.
        reduction: Keras reduction over the batch (default `"sum_over_batch_size"`: mean per image).

    Example:

    >>> loss = ImageBinaryCrossentropy()
    >>> loss(np.ones((2, 4, 4, 1)), np.zeros((2, 4, 4, 1)))  # log(2)
    """

    def __init__(
        self, pixel_reduction="mean", name="image_binary_crossentropy", reduction="sum_over_batch_size", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if pixel_reduction not in ("mean", "sum"):
            raise ValueError(f"pixel_reduction must be 'mean' or 'sum'; got {pixel_reduction!r}.")
        self.pixel_reduction = pixel_reduction

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Checked before Keras casts the targets to float: uint8 pixels 0..255 would otherwise train silently
        # against targets far outside [0, 1]. The dtype is static, so this costs nothing per step.
        dtype = getattr(y_true, "dtype", None)
        if dtype is not None and keras.backend.standardize_dtype(dtype).startswith(("int", "uint", "bool")):
            raise ValueError(
                f"Image targets are {keras.backend.standardize_dtype(dtype)} (pixel values 0..255?), but "
                "ImageBinaryCrossentropy needs float pixels in [0, 1]: scale to [0, 1] float32 first, e.g. "
                "images.astype('float32') / 255 (or tf.image.convert_image_dtype in a tf.data pipeline)."
            )
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        targets = ops.cast(y_true, "float32")
        # -x log s(l) - (1 - x) log(1 - s(l)) = max(l, 0) - l x + log(1 + exp(-|l|))
        pixel_losses = ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
        per_image = ops.reshape(pixel_losses, (ops.shape(pixel_losses)[0], -1))
        if self.pixel_reduction == "sum":
            return ops.sum(per_image, axis=-1)
        return ops.mean(per_image, axis=-1)

    def get_config(self):
        return {"pixel_reduction": self.pixel_reduction, "name": self.name, "reduction": self.reduction}
