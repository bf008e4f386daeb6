"""Updating the layers' monitoring metrics (perplexity, usage, loss terms) from inside `call`, on every backend.

The layers report their monitored values through `keras.metrics.Mean` trackers that they own and update in
`call`, which TensorFlow's and PyTorch's `model.fit` read into their logs. JAX's `fit` runs `call` as a pure
function (`Model.stateless_call`) that carries the model's trainable and non-trainable variables but not the
metrics' (Keras 3.15 passes those only to the compiled metrics), so a layer cannot update a metric it owns there:
`update_tracker` then leaves it unchanged, and the value is absent from JAX's training logs (the loss terms
still reach the loss through `add_loss`; nothing the layer computes depends on its metrics). Outside `fit`
(eager calls, `evaluate_layer`-style use) the trackers update under JAX as elsewhere.
"""

from __future__ import annotations

import keras
# Private in Keras 3.15 (pinned): whether `call` runs inside a stateless call, and what that call carries.
from keras.src.backend.common.stateless_scope import get_stateless_scope, in_stateless_scope

__all__ = ["MonitoredMean", "replica_context", "update_tracker"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class MonitoredMean(keras.metrics.Mean):
    """A running mean that reports NaN, not 0, while it holds no value (never updated since its reset)."""

    def result(self):
        count = keras.ops.cast(self.count, self.dtype)
        return keras.ops.where(count > 0, self.total / keras.ops.maximum(count, 1.0), float("nan"))


def update_tracker(tracker: keras.metrics.Metric, value) -> None:
    """`update_tracker(tracker, value)`, unless inside a stateless call that does not carry the tracker's state."""
    if in_stateless_scope() and keras.backend.backend() == "jax":
        scope = get_stateless_scope()
        if any(scope.get_current_value(variable) is None for variable in tracker.variables):
            return
    tracker.update_state(value)


def replica_context():
    """TensorFlow's `tf.distribute` replica context under the TensorFlow backend (None in cross-replica context);
    None on the other backends, which the layers' multi-replica paths do not concern. TensorFlow is imported
    only here, so the layers load without it on JAX and PyTorch."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.distribute.get_replica_context()
