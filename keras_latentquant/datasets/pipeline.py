"""tf.data input pipeline for the registered datasets.

Training reads a TFDS split as float32 images in [0, 1]: the autoencoders (QLAE, AE, VAE family) get
`(image, image)` pairs so Keras `fit` can use the input as its own reconstruction target, the GANs get
images alone, and evaluation (InfoMEC, DCI, MIG) gets `(image, factors)` pairs or NumPy arrays of
held-out samples. Nothing is ever downloaded: our builders are prepared offline on first use (the procedural
ones render their images, the real-file ones read release files from the manual directory), and TFDS's own
`dsprites` and `shapes3d` are read where the user prepared them (`tfds build`), or refused with the way to
prepare them.

The pipeline caches the decoded uint8 images (a quarter of the memory of float32) and casts to
float32 after batching, where the cast is one vectorized op per batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_latentquant.datasets.registry import (
    DatasetNotPreparedError, DatasetSpec, default_data_dir, get_dataset_spec, not_prepared_message,
)

# What each element of `load_dataset` holds: autoencoder -> (x, x), images -> x, factors -> (x, s).
MODES = ("autoencoder", "images", "factors")

# Shuffle buffer when none is given: the whole split up to this many examples (uint8 64x64 images,
# 4 KiB each, so 100,000 is about 400 MiB).
_MAX_DEFAULT_SHUFFLE_BUFFER = 100_000
_NUMPY_READ_BATCH = 1024


class DataDirError(OSError):
    """The TFDS data directory cannot hold the prepared data (a file in its path, or no write permission)."""


def check_data_dir(data_dir: str) -> None:
    """Raises `DataDirError` unless `data_dir` is, or can be created as, a folder this process can write.

    Args:
        data_dir: the TFDS data directory a dataset is about to be prepared in.
    """
    path = os.path.abspath(os.path.expanduser(data_dir))
    existing = path
    while not os.path.exists(existing):  # the deepest part of the path that exists already
        existing = os.path.dirname(existing)
    fix = "pass --data_dir (or data_dir=) a folder you can write, or set TFDS_DATA_DIR"
    if not os.path.isdir(existing):
        raise DataDirError(
            f"data_dir {data_dir!r} cannot be created: {existing!r} is a file, not a folder; {fix}."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is" if existing == path else f"would be created inside {existing!r}, which is"
        raise DataDirError(
            f"data_dir {data_dir!r} {where} not writable (permission denied), so the dataset cannot be "
            f"prepared there; {fix}."
        )


@contextlib.contextmanager
def _preparation_lock(data_dir: str, name: str, config: str):
    """Holds an exclusive lock on `<data_dir>/.<name>-<config>.lock` while one process prepares a dataset.

    Processes that start together on a fresh data directory (multi-worker workers, a tuner's chief and
    workers, two trainers) would otherwise write the same TFDS files at once and fail; with the lock one
    prepares and the others wait for it. POSIX file locks; without `fcntl` (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, f".{name}-{config}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, by a crashed process too
        yield


def get_builder(
    name: str = "procedural_dsprites",
    config: str | None = None,
    data_dir: str | None = None,
    prepare: bool = True,
) -> tfds.core.DatasetBuilder:
    """Returns a dataset's TFDS builder, preparing its data offline if they are not there yet.

    Args:
        name: registered dataset name (see `keras_latentquant.datasets.DATASETS`).
        config: builder config name; `None` takes the dataset's default config.
        data_dir: TFDS data directory; `None` uses TFDS's default (`$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        prepare: generate the data when missing (TFDS shows its progress bar). Nothing is
            downloaded: GCS is not tried and the builders render everything locally.

    Returns:
        The `tfds.core.DatasetBuilder`, prepared unless `prepare=False`.

    Raises:
        ValueError: unknown dataset name or config name; the message lists the valid ones.
        DataDirError: the data are not prepared yet and `data_dir` cannot hold them.
        DatasetNotPreparedError: a TFDS catalogue dataset (`dsprites`, `shapes3d`) is not prepared in
            `data_dir`; the message says how to prepare it.
    """
    spec = get_dataset_spec(name)
    config = spec.resolve_config(config)
    with _without_missing_variant_warnings():
        if spec.catalog_name is not None:
            return _catalog_builder(spec, data_dir)
        return _our_builder(spec, config, data_dir, prepare)


class _MissingVariantFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Variant folder ")


@contextlib.contextmanager
def _without_missing_variant_warnings():
    """Silences TFDS's "Variant folder ... has no dataset_info.json" warnings, which it logs whenever a builder
    looks for data that are not prepared yet (before preparing them, or before our not-prepared error)."""
    handler_filter = _MissingVariantFilter()
    logger = logging.getLogger("absl")
    logger.addFilter(handler_filter)
    try:
        yield
    finally:
        logger.removeFilter(handler_filter)


def _our_builder(spec: DatasetSpec, config: str, data_dir: str | None, prepare: bool) -> tfds.core.DatasetBuilder:
    """One of our builders, prepared offline when missing and `prepare` (see `get_builder`)."""
    name = spec.name
    builder = spec.builder(config=config, data_dir=data_dir)
    if prepare and not builder.is_prepared():
        root = data_dir or default_data_dir()
        local = "://" not in root  # a remote file system (gs://...) gets neither the checks nor the lock
        if local:
            check_data_dir(root)
        with _preparation_lock(root, name, config) if local else contextlib.nullcontext():
            # Another process may have prepared the data while this one waited: look again.
            builder = spec.builder(config=config, data_dir=data_dir)
            if not builder.is_prepared():
                if not _on_a_terminal():
                    # Written to a file or a pipe, TFDS's bars are carriage-return lines; its start and end
                    # lines (which dataset, where it went) are kept.
                    tfds.disable_progress_bar()
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(try_download_gcs=False)
                )
    return builder


def config_name(builder: tfds.core.DatasetBuilder) -> str:
    """The name of a builder's config: `"default"` for a builder without configs (TFDS's `shapes3d`)."""
    return builder.builder_config.name if builder.builder_config is not None else "default"


def _catalog_builder(spec: DatasetSpec, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """TFDS's own builder of a catalogue dataset at the newest version prepared in `data_dir`.

    Never prepares it: TFDS's builders download the release files, which this library does not do (the
    machines it is tested on cannot, and a 255 MiB download should be the user's decision).
    """
    builder = tfds.builder(spec.catalog_name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    versions = sorted({str(builder.version), *(str(v) for v in builder.SUPPORTED_VERSIONS)}, reverse=True)
    for version in versions:
        if version == str(builder.version):
            continue
        candidate = tfds.builder(f"{spec.catalog_name}:{version}", data_dir=data_dir)
        if candidate.is_prepared():
            return candidate
    root = data_dir or default_data_dir()
    raise DatasetNotPreparedError(not_prepared_message(
        spec, root, f"looked for versions {', '.join(versions)} in {os.path.join(root, spec.name)}"))


def _on_a_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def load_dataset(
    name: str = "procedural_dsprites",
    config: str | None = None,
    split: str = "train",
    data_dir: str | None = None,
    mode: str = "autoencoder",
    batch_size: int | None = 128,
    shuffle: bool = True,
    repeat: bool = True,
    seed: int = 0,
    cache: bool = True,
    drop_remainder: bool = True,
    shuffle_buffer_size: int | None = None,
    builder: tfds.core.DatasetBuilder | None = None,
) -> tf.data.Dataset:
    """Builds the tf.data input pipeline of a registered dataset.

    Args:
        name: registered dataset name.
        config: builder config name; `None` takes the dataset's default (for `procedural_dsprites`,
            `sample_50k`).
        split: TFDS split string, slices included, e.g. `"train"`, `"train[:90%]"`,
            `"train[90%:]"`.
        data_dir: TFDS data directory; `None` uses TFDS's default.
        mode: what each element holds: `"autoencoder"` gives `(image, image)` (input and
            reconstruction target), `"images"` gives `image`, `"factors"` gives
            `(image, factors)` with `factors` the int32 index of every factor, in the
            spec's `factor_names` order.
        batch_size: examples per batch; `None` yields single examples.
        shuffle: shuffle file order and examples (reshuffled every epoch).
        repeat: repeat forever (training); `False` makes one pass (evaluation).
        seed: seed of file and example shuffling; the same seed gives the same order.
        cache: keep the decoded uint8 images in memory after the first pass.
        drop_remainder: drop the last incomplete batch, so every batch has `batch_size` examples.
        shuffle_buffer_size: examples in the shuffle buffer; `None` takes the whole split, up to
            100,000. The `full` dSprites config is stored in grid order, so a buffer smaller than
            the split only mixes neighbouring grid points: prefer a sampled config for training,
            or a buffer of the whole split.
        builder: the dataset's prepared builder, when the caller has it (`get_builder`); `config` and
            `data_dir` are then the builder's.

    Returns:
        A `tf.data.Dataset` of float32 images in [0, 1] of shape `spec.image_shape` (with a leading
        batch dimension when batched), structured as `mode` says, prefetched.

    Raises:
        ValueError: unknown dataset, config, mode or split, or a non-positive batch size.

    Example:
        >>> dataset = load_dataset(config="tiny", batch_size=32)
        >>> images, targets = next(iter(dataset))  # both float32 [32, 64, 64, 1]
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}. Valid modes: {', '.join(MODES)}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}.")
    if shuffle_buffer_size is not None and shuffle_buffer_size < 1:
        raise ValueError(f"shuffle_buffer_size must be positive or None, got {shuffle_buffer_size}.")
    spec = get_dataset_spec(name)
    _validate_split(spec, split)
    builder = builder or get_builder(name, config, data_dir)

    # Builders stored in a meaningful order (e.g. the full grid) forbid shuffling files unless the
    # ordering guard is lifted; when shuffling is asked for, order is not wanted.
    read_config_args = {"shuffle_seed": seed}
    if shuffle and builder.info.disable_shuffling:
        read_config_args.update(enable_ordering_guard=False, interleave_cycle_length=16)
    read_config = tfds.ReadConfig(**read_config_args)
    dataset = builder.as_dataset(split=split, shuffle_files=shuffle, read_config=read_config)
    num_examples = int(dataset.cardinality())
    dataset = dataset.map(
        _image_and_factors_fn(spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if cache:
        dataset = dataset.cache()
    if shuffle:
        if shuffle_buffer_size is None:
            shuffle_buffer_size = (
                min(num_examples, _MAX_DEFAULT_SHUFFLE_BUFFER)
                if num_examples > 0
                else _MAX_DEFAULT_SHUFFLE_BUFFER
            )
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(
        _mode_fn(mode), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_arrays(
    name: str = "procedural_dsprites",
    config: str | None = None,
    split: str = "train",
    data_dir: str | None = None,
    max_examples: int | None = None,
    builder: tfds.core.DatasetBuilder | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reads a split into NumPy arrays, for evaluation on held-out samples.

    Examples come in stored order. For the sampled dSprites configs that order is unrelated to the
    factors, so the first `max_examples` are a uniform random sample; the `full` config is stored in
    grid order, so there the first examples are all squares: slice the split instead.

    Args:
        name: registered dataset name.
        config: builder config name; `None` takes the dataset's default.
        split: TFDS split string, e.g. `"train[90%:]"`.
        data_dir: TFDS data directory; `None` uses TFDS's default.
        max_examples: read at most this many examples; `None` reads the whole split.
        builder: the dataset's prepared builder, when the caller has it (`get_builder`); `config` and
            `data_dir` are then the builder's.

    Returns:
        `(images, factors)`: float32 images in [0, 1] of shape `[N, *spec.image_shape]` and int32
        factor indices of shape `[N, K]`, columns in the spec's `factor_names` order.

    Raises:
        ValueError: unknown dataset, config or split, or a non-positive `max_examples`.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be positive or None, got {max_examples}.")
    spec = get_dataset_spec(name)
    _validate_split(spec, split)
    builder = builder or get_builder(name, config, data_dir)
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if max_examples is not None:
        dataset = dataset.take(max_examples)
    dataset = (
        dataset.map(_image_and_factors_fn(spec), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(_NUMPY_READ_BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    images, factors = [], []
    for image_batch, factor_batch in dataset.as_numpy_iterator():
        images.append(image_batch)
        factors.append(factor_batch)
    if not images:
        return (
            np.zeros((0,) + spec.image_shape, dtype=np.float32),
            np.zeros((0, spec.num_factors), dtype=np.int32),
        )
    # Concatenate as uint8 first so only the final array is float32.
    images = np.concatenate(images).astype(np.float32) / np.float32(255.0)
    return images, np.concatenate(factors)


def _validate_split(spec: DatasetSpec, split: str) -> None:
    """Checks a split string's names and slice syntax before any data are prepared."""
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"split must be a non-empty string such as 'train[:90%]', got {split!r}.")
    for part in split.split("+"):
        split_name = part.split("[", 1)[0].strip()
        if split_name not in spec.splits:
            raise ValueError(
                f"Unknown split {split_name!r} in {split!r} for dataset {spec.name!r}. "
                f"Valid splits: {', '.join(spec.splits)} (slices such as 'train[:90%]' are allowed)."
            )
    try:
        tfds.core.ReadInstruction.from_spec(split)
    except (ValueError, AssertionError) as error:
        raise ValueError(
            f"Malformed split {split!r}: {error}. Examples of valid splits: 'train', "
            "'train[:90%]', 'train[90%:]', 'train[:1000]'."
        ) from None


def _image_and_factors_fn(spec: DatasetSpec):
    """Maps a TFDS example to `(uint8 image, int32 factors)`, the factors read from `spec.feature_keys`."""

    keys = spec.feature_keys

    def image_and_factors(example):
        factors = tf.stack([example[key] for key in keys], axis=-1)
        image = example["image"]
        if spec.binary_images:  # 0/1 masks (TFDS's dSprites) as 0/255, like every other dataset's images
            image = tf.minimum(image, 1) * 255
        return image, tf.cast(factors, tf.int32)

    return image_and_factors


def _mode_fn(mode: str):
    def to_mode(image, factors):
        image = tf.cast(image, tf.float32) / 255.0
        if mode == "autoencoder":
            return image, image
        if mode == "images":
            return image
        return image, factors

    return to_mode
