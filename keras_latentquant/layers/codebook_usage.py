"""How much of a codebook a batch uses: the monitored value every quantizer layer reports.

For codes `k` of one codebook over N inputs: `p_k = count_k / N`, perplexity `exp(-sum_k p_k log p_k)`
(with 0 log 0 = 0; between 1 for a collapsed codebook and the number of values for uniform use), and
the fraction of values used at least once.
"""

from __future__ import annotations

from keras import ops

__all__ = ["usage_statistics"]


def usage_statistics(counts, num_values):
    """Perplexity and used fraction of codebooks from their assignment counts.

    Args:
        counts: float tensor `(..., max_num_values)` of assignment counts per value (padding columns 0).
        num_values: number of real values of each codebook, broadcastable to `counts.shape[:-1]`.

    Returns:
        `(perplexity, used_fraction)`, each of shape `counts.shape[:-1]`.
    """
    probabilities = counts / ops.maximum(ops.sum(counts, axis=-1, keepdims=True), 1.0)
    entropy = -ops.sum(
        ops.where(probabilities > 0, probabilities * ops.log(ops.maximum(probabilities, 1e-12)), 0.0),
        axis=-1,
    )
    used_fraction = ops.divide(ops.sum(ops.cast(counts > 0, "float32"), axis=-1), num_values)
    return ops.exp(entropy), used_fraction
