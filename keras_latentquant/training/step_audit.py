"""Audit of a compiled train step: which ops it runs, whether any of them leaves the device, and where
its time goes.

A train step that calls back into Python (`tf.py_function`, `tf.numpy_function`), prints, writes
summaries or copies tensors to the host stalls an accelerator on every step. `host_ops` traces
`model.train_step` with `tf.function` (as `fit` does) and lists such ops, nested functions (gradients,
loops, conditionals) included:

    >>> host_ops(model, (images, images))
    {}

`profile_train_step` runs `fit` under the TensorFlow profiler and returns the time of every op the
compiled step ran, by op name; `scope_seconds` sums the ops of one layer's name scope (its forward ops,
their gradients, its losses and monitored values), so a layer's share of the step is measured directly
rather than as the difference of two noisy step times:

    >>> op_seconds = profile_train_step(model, dataset, steps=5)
    >>> scope_seconds(op_seconds, "latent_quantization") / sum(op_seconds.values())
"""

from __future__ import annotations

import glob
import re
import tempfile

import keras
import tensorflow as tf

__all__ = ["HOST_OPS", "train_step_op_counts", "host_ops", "profile_train_step", "scope_seconds"]

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


# A TensorFlow op event in the profiler's trace is named "<op name>:<op type>", the op name a path of
# name scopes ("StatefulPartitionedCall/gradient_tape/qlae_1/latent_quantization_1/Tile_2:Tile").
_OP_EVENT = re.compile(r"[^:]+:[A-Za-z0-9_]+")


def profile_train_step(model: keras.Model, dataset, steps: int, warmup_steps: int = 1) -> dict[str, float]:
    """Seconds spent in each op of the compiled train step over `steps` steps of `fit`, by op name.

    The step is traced (and compiled) by `warmup_steps` steps of `fit` outside the profile, then `steps`
    steps run under `tf.profiler`. The op times are those of TensorFlow's executor threads on the host
    (on CPU: the op's own work, its intra-op threads included; on a GPU these host events time the
    kernel launches, not the kernels). A model compiled with XLA (`jit_compile=True`) is refused: its
    step runs as one fused cluster, with nothing to break down.

    Args:
        model: a compiled Keras model (TensorFlow backend).
        dataset: what `fit` trains on (a repeating `tf.data.Dataset`, say).
        steps: profiled steps.
        warmup_steps: steps run before the profile starts.

    Returns:
        `{"<op name>:<op type>": seconds}` summed over the profiled steps.

    Raises:
        ValueError: the model is compiled with `jit_compile=True`.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    if getattr(model, "jit_compile", False):
        raise ValueError(
            "profile_train_step breaks a step down by op, and a step compiled with XLA runs as one fused "
            "cluster; compile the model with jit_compile=False to profile it."
        )
    if warmup_steps > 0:
        model.fit(dataset, steps_per_epoch=warmup_steps, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory(prefix="step_profile_") as log_dir:
        tf.profiler.experimental.start(log_dir)
        try:
            model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
        finally:
            tf.profiler.experimental.stop()
        (path,) = glob.glob(f"{log_dir}/**/*.xplane.pb", recursive=True)
        space = xplane_pb2.XSpace()
        with open(path, "rb") as file:
            space.ParseFromString(file.read())
    op_seconds: dict[str, float] = {}
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # executor threads: one event per op run
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if _OP_EVENT.fullmatch(name):
                    op_seconds[name] = op_seconds.get(name, 0.0) + event.duration_ps * 1e-12
    if not op_seconds:
        raise RuntimeError("the profile holds no TensorFlow op events on the host's executor threads.")
    return op_seconds


def scope_seconds(op_seconds: dict[str, float], scope: str) -> float:
    """Total seconds of the ops under name scope `scope` (a layer's name; Keras's `_<n>` suffix allowed).

    Forward ops (`model/scope/...`) and their gradients (`gradient_tape/model/scope/...`) both count.
    """
    component = re.compile(rf"{re.escape(scope)}(_\d+)?")
    return sum(
        seconds for name, seconds in op_seconds.items()
        if any(component.fullmatch(part) for part in name.split("/")[:-1])  # scopes, not the op's own name
    )
