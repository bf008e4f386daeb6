"""Audit of a compiled train step: which ops it runs, and whether any of them leaves the device.

A train step that calls back into Python (`tf.py_function`, `tf.numpy_function`), prints, writes
summaries or copies tensors to the host stalls an accelerator on every step. `host_ops` traces
`model.train_step` with `tf.function` (as `fit` does) and lists such ops, nested functions (gradients,
loops, conditionals) included:

    >>> host_ops(model, (images, images))
    {}
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["HOST_OPS", "train_step_op_counts", "host_ops"]

# Ops that run Python, print, write summaries or move data to the host.
HOST_OPS = frozenset({
    "PyFunc", "PyFuncStateless", "EagerPyFunc", "PrintV2", "Print", "_HostSend", "_HostRecv", "_HostCast",
    "Send", "Recv", "AudioSummary", "AudioSummaryV2", "ImageSummary", "ScalarSummary", "HistogramSummary",
    "TensorSummary", "TensorSummaryV2", "WriteSummary", "WriteScalarSummary", "WriteImageSummary",
    "WriteHistogramSummary", "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary",
})


def train_step_op_counts(model: keras.Model, batch) -> dict[str, int]:
    """Counts of every op type in `model.train_step(batch)` traced by `tf.function`.

    Args:
        model: a compiled Keras model (TensorFlow backend).
        batch: one batch as `fit` would pass it, e.g. `(images, images)`; tensors or NumPy arrays.

    Returns:
        `{op type: count}` over the step's graph and every function it calls.
    """
    batch = tf.nest.map_structure(tf.convert_to_tensor, batch)
    function = tf.function(model.train_step).get_concrete_function(batch)
    graph_def = function.graph.as_graph_def()
    counts: dict[str, int] = {}
    nodes = list(graph_def.node) + [node for function_def in graph_def.library.function for node in function_def.node_def]
    for node in nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def host_ops(model: keras.Model, batch) -> dict[str, int]:
    """The `HOST_OPS` in the model's train step, with their counts (empty for a step that stays on device)."""
    return {op: count for op, count in train_step_op_counts(model, batch).items() if op in HOST_OPS}
