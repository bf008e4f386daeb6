"""Multi-worker helpers: `TF_CONFIG` parsing and validation, the chief, and worker-private folders.

`MultiWorkerMirroredStrategy` runs one copy of the trainer per worker process; the cluster comes from
the `TF_CONFIG` environment variable, e.g. for worker 1 of 2 on one machine:

    {"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}, "task": {"type": "worker", "index": 1}}

Every worker runs the same program, collective ops included (the all-reduce of each step, and the
gather behind `model.predict`), so every worker must also run the evaluations and the final figures.
Only the chief (`task.type == "chief"`, or worker 0 when the cluster has no chief) writes the run's
outputs into `output_dir`; every other worker writes what Keras makes it write (backups, checkpoints,
TensorBoard events, its copy of the figures) into `output_dir/.workers/<type>_<index>`, which it
removes when it finishes. The global batch is `--batch_size`: with data sharding every worker reads
the same shuffled stream and keeps its own slice of each global batch (`shard_by_data`), so the
workers together take the same steps as one worker with the whole batch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

__all__ = [
    "ClusterTask",
    "TFConfigError",
    "parse_tf_config",
    "make_tf_config",
    "is_chief",
    "worker_output_dir",
    "for_this_worker",
    "remove_worker_output_dir",
    "shard_by_data",
    "patch_for_multi_worker",
    "WORKERS_FOLDER",
]

# Non-chief workers write into output_dir/WORKERS_FOLDER/<type>_<index>.
WORKERS_FOLDER = ".workers"
_TASK_TYPES = ("chief", "worker")
_EXAMPLE = (
    '{"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}, "task": {"type": "worker", "index": 0}}'
)


class TFConfigError(ValueError):
    """`TF_CONFIG` is missing or malformed; the message says what is wrong and how to fix it."""


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster that `TF_CONFIG` describes.

    Attributes:
        cluster: task type -> list of `host:port` addresses (`chief` and/or `worker`).
        task_type: `chief` or `worker`.
        task_index: index of this process in `cluster[task_type]`.
    """

    cluster: dict
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        """Processes taking part in training (chief and workers)."""
        return sum(len(self.cluster.get(kind, [])) for kind in _TASK_TYPES)

    @property
    def is_chief(self) -> bool:
        """The chief, or worker 0 of a cluster without a chief."""
        if self.task_type == "chief":
            return True
        return "chief" not in self.cluster and self.task_index == 0


def _fail(problem: str) -> TFConfigError:
    return TFConfigError(
        f"Malformed TF_CONFIG: {problem}. Set TF_CONFIG on every worker to JSON like {_EXAMPLE} "
        "(same cluster everywhere, its own task index on each), or start the workers with "
        "trainers/launch_multi_worker.py, which sets it."
    )


def parse_tf_config(text: str | None = None) -> ClusterTask:
    """Parses and validates a `TF_CONFIG` value.

    Args:
        text: the JSON text; None reads the `TF_CONFIG` environment variable.

    Returns:
        The `ClusterTask`.

    Raises:
        TFConfigError: TF_CONFIG unset, not JSON, without `cluster` or `task`, with an unknown task type,
            a task index out of range, or addresses that are not `host:port` strings.
    """
    if text is None:
        text = os.environ.get("TF_CONFIG")
        if not text:
            raise _fail("the TF_CONFIG environment variable is not set (strategy=multi_worker reads the cluster from it)")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(f"not valid JSON ({error.msg} at character {error.pos}): {text[:200]!r}") from None
    if not isinstance(payload, dict):
        raise _fail(f"expected a JSON object, got {type(payload).__name__}")
    cluster = payload.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise _fail('no "cluster" object mapping task types to address lists')
    unknown = sorted(set(cluster) - set(_TASK_TYPES))
    if unknown:
        raise _fail(f"cluster has task types {unknown}; only {list(_TASK_TYPES)} are supported for training")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise _fail(f'cluster["{kind}"] must be a non-empty list of "host:port" strings, got {addresses!r}')
        for address in addresses:
            host, _, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
            if not host or not port.isdigit():
                raise _fail(f'cluster["{kind}"] has {address!r}, which is not a "host:port" string')
    if len(cluster.get("chief", [])) > 1:
        raise _fail(f'a cluster has at most one chief, got {len(cluster["chief"])}')
    task = payload.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise _fail('no "task" object with "type" and "index" saying which cluster member this process is')
    task_type, task_index = task["type"], task["index"]
    if task_type not in cluster:
        raise _fail(f"task type {task_type!r} is not in the cluster (which has {sorted(cluster)})")
    if isinstance(task_index, bool) or not isinstance(task_index, int):
        raise _fail(f"task index must be an integer, got {task_index!r}")
    if not 0 <= task_index < len(cluster[task_type]):
        raise _fail(
            f"task index {task_index} is out of range for {len(cluster[task_type])} {task_type} address(es) "
            f"(valid: 0 to {len(cluster[task_type]) - 1})"
        )
    return ClusterTask(cluster=cluster, task_type=task_type, task_index=task_index)


def make_tf_config(addresses: list[str], index: int) -> str:
    """The `TF_CONFIG` JSON of worker `index` in a cluster of workers at `addresses` (worker 0 is chief)."""
    text = json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})
    parse_tf_config(text)  # the same checks a worker makes
    return text


def _current_task() -> ClusterTask | None:
    return parse_tf_config() if os.environ.get("TF_CONFIG") else None


def is_chief() -> bool:
    """True unless `TF_CONFIG` names this process as a non-chief worker (no TF_CONFIG: a lone chief)."""
    task = _current_task()
    return task is None or task.is_chief


def worker_output_dir(output_dir: str) -> str:
    """Where this process writes: `output_dir` for the chief, `output_dir/.workers/<type>_<index>` otherwise."""
    task = _current_task()
    if task is None or task.is_chief:
        return output_dir
    return os.path.join(output_dir, WORKERS_FOLDER, f"{task.task_type}_{task.task_index}")


def for_this_worker(config):
    """The config itself on the chief; on another worker a copy writing into its private folder."""
    folder = worker_output_dir(config.output_dir)
    return config if folder == config.output_dir else dataclasses.replace(config, output_dir=folder)


def remove_worker_output_dir(output_dir: str) -> None:
    """Removes a non-chief worker's private folder (and `.workers` once empty); nothing on the chief.

    Args:
        output_dir: the run's `output_dir` (the chief's), not the worker folder.
    """
    folder = worker_output_dir(output_dir)
    if folder == output_dir:
        return
    shutil.rmtree(folder, ignore_errors=True)
    try:  # the last worker to finish removes the shared parent
        os.rmdir(os.path.join(output_dir, WORKERS_FOLDER))
    except OSError:
        pass


def shard_by_data(dataset):
    """The dataset with the DATA auto-shard policy: each worker keeps its slice of every global batch.

    The default (AUTO) policy shards by file when it can, so each worker would read different files and
    the global batches would differ from a single worker's; TFDS splits of the small configs also have
    fewer files than a cluster may have workers. With DATA every worker reads the same seeded stream and
    `tf.distribute` keeps replica `r`'s `batch_size / replicas` slice of each global batch.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def patch_for_multi_worker(model):
    """Lets `model.fit` and `predict` run under `MultiWorkerMirroredStrategy` (Keras 3.15), makes a model
    built in any strategy's scope read the same batches as one built without, and clips gradients after the
    all-reduce under any strategy with several replicas; otherwise (no strategy) a no-op.

    Under any strategy, Keras 3.15's `fit` and `evaluate` first call `_maybe_symbolic_build`, which opens an
    iterator on the dataset and reads a batch from it only for its shapes, then reset the epoch iterator and
    train from a second iterator. A seeded `shuffle` (reshuffle_each_iteration, as in `load_dataset`) gives
    each new iterator another order, so a run under a strategy trained on other batches than the same run
    without one, from its first step on (measured: 2 workers and 1 worker at global batch 16 trained step 1
    on batches with image sums 2138 and 2046; logged losses 0.4756 and 0.4734;
    benchmarks/logs/multi_worker_comparison.md). Here the symbolic build gets the shapes from the dataset's
    `element_spec` instead, so the first iterator `fit` opens is the one it trains from.
    Under `MultiWorkerMirroredStrategy` Keras also fails: the symbolic build passes a whole distributed
    batch to `strategy.reduce("MEAN", ...)`, which does not take nested structures ("Attempt to convert a
    value (PerReplica:...)"), which the `element_spec` route avoids too; and after every step it reduces the
    scalar logs with `strategy.reduce("MEAN", value, axis=0)`, which needs a batch axis ("Invalid reduction
    dimension 0 for input with 0 dimensions"): `train_step`'s logs get a leading axis of length 1, so that
    reduce returns the mean over all replicas (the global batch's loss, as one worker would log it).
    And `predict` (evaluation, reconstructions, traversals) runs locally on each worker, outside the
    strategy: the weights are the same on every worker after each step, a distributed `predict` would split
    small arrays over the workers (a batch of one image leaves one worker an empty batch, which fails) and
    gather them back, and a local one needs no worker to wait for another. Every worker still runs the
    evaluations (so they stay in step), but with no collective op in them.
    Under any strategy with several replicas (`MirroredStrategy` too), the optimizers' gradient clipping
    moves after the all-reduce (`_clip_after_all_reduce`), so that distributed training takes the steps a
    single replica with the whole batch would.
    Call it once, after building the model in the strategy scope and before `fit`.

    Returns:
        The model (unchanged when it was built outside any strategy's scope).
    """
    import keras
    import tensorflow as tf

    strategy = model.distribute_strategy
    if model._distribute_strategy is not None:  # built in a strategy's scope
        _build_without_reading_data(model)
    if strategy.num_replicas_in_sync > 1:
        for optimizer in {id(value): value for value in vars(model).values()
                          if isinstance(value, keras.optimizers.Optimizer)}.values():
            _clip_after_all_reduce(optimizer)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    keras_train_step = model.train_step

    def train_step(data):
        logs = keras_train_step(data)
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    model.train_step = train_step
    for network in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(network, keras.Model):
            network.predict = _local_predict(network)
    return model


def _build_without_reading_data(model) -> None:
    """`model._maybe_symbolic_build` that takes shapes and dtypes from the dataset's `element_spec`.

    Keras's own opens an iterator and reads its first batch; `fit` then trains from a fresh iterator, which
    a seeded reshuffling pipeline gives another order (see `patch_for_multi_worker`). The symbolic build
    only needs `.shape` and `.dtype` of each element, which a `tf.TensorSpec` has.
    """
    keras_build = model._maybe_symbolic_build

    def symbolic_build(iterator=None, data_batch=None):
        if data_batch is None and iterator is not None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        return keras_build(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build


def _local_predict(network):
    """`network.predict` with no distribution strategy (its own compiled function, kept between calls)."""
    keras_predict = network.predict
    local = {"predict_function": None}

    def predict(*args, **kwargs):
        strategy, distributed_function = network._distribute_strategy, network.predict_function
        network._distribute_strategy, network.predict_function = None, local["predict_function"]
        try:
            return keras_predict(*args, **kwargs)
        finally:
            local["predict_function"] = network.predict_function
            network._distribute_strategy, network.predict_function = strategy, distributed_function

    return predict


def _clip_after_all_reduce(optimizer) -> None:
    """Clips the summed gradient, not each replica's part of it (Keras 3.15 clips before the all-reduce).

    Each replica's gradient is that of its share of the loss (`loss / replicas` on `batch / replicas`
    examples) and the all-reduce sums them into the gradient of the global batch. Keras's `apply` clips
    (`clipvalue`, `clipnorm`, `global_clipnorm`) each part first, so `sum(clip(part))` replaces
    `clip(sum(part))` whenever an element passes the threshold, and training departs from a single replica
    with the whole batch. Here clipping is skipped where Keras does it and done on the all-reduced gradients
    instead.
    """
    clip = optimizer._clip_gradients
    all_reduce = optimizer._all_reduce_sum_gradients

    def all_reduce_then_clip(grads_and_vars):
        reduced = list(all_reduce(grads_and_vars))
        clipped = clip([gradient for gradient, _ in reduced])
        return [(gradient, variable) for gradient, (_, variable) in zip(clipped, reduced)]

    optimizer._clip_gradients = lambda grads: grads
    optimizer._all_reduce_sum_gradients = all_reduce_then_clip
