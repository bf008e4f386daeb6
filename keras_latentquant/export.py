"""SavedModel export of a trained model's encoder and decoder (or generator) for TF Serving.

A trained model becomes two SavedModels, each in a numbered version folder that TF Serving watches:

    DIR/encoder/<version>/   images -> continuous latents, codebook values, integer codes
    DIR/decoder/<version>/   integer codes (or latent values) -> images in [0, 1]
    DIR/models.config        TF Serving's model_config_list naming both

(an InfoGAN run gives `generator` instead of `decoder`, and its `encoder` is the critic's latent estimate).
The signatures, for a model with `d` latents, `n_j` values in dimension `j` and images `(H, W, C)`:

    encoder  serving_default  images float32 [N, H, W, C] in [0, 1]  -> continuous float32 [N, d],
                                                                         quantized float32 [N, d],
                                                                         codes int32 [N, d]
             encode_uint8     images uint8 [N, H, W, C] in 0..255     -> the same (images / 255)
    decoder  serving_default  codes int32 [N, d], 0 <= k_j < n_j      -> images float32 [N, H, W, C]
             decode_values    values float32 [N, d]                   -> images float32 [N, H, W, C]

Outputs equal the Keras model's: `codes = quantizer.encode_codes(encoder(images))`, `quantized =
quantizer.decode_codes(codes)`, decoder `images = sigmoid(decoder(decode_codes(codes)))`. A model without a
`LatentQuantization` (AE, VAE family, BioAE, VQ-VAE, FSQ, InfoWGAN-GP) has no per-dimension scalar codes:
its encoder returns `latents` (what the decoder reads at inference: the bottleneck's output with
`training=False`, e.g. the VAE posterior means) and `continuous` (the encoder's raw outputs), and its
decoder's `serving_default` takes `values`.

Bad requests are rejected, not repaired: codes outside `[0, n_j)` and float images outside [0, 1] (or NaN)
fail a `tf.debugging` assertion whose message names the valid ranges; a wrong dtype or shape fails against
the signature's `TensorSpec` before anything runs.

`rest_request_to_inputs` converts a TF Serving REST predict request (`"instances"` rows or `"inputs"`
columns) into a signature's keyword arguments as the server does, and `rest_response` formats outputs as the
server would answer, so the REST contract can be checked without a server.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant.layers import LatentQuantization
# MODEL_NAMES and existing_versions live with the run files (no TensorFlow), so export/savedmodel.py checks an
# export root before TensorFlow starts; they are part of this module's API too.
from keras_latentquant.model_files import (
    SERVING_MODEL_NAMES as MODEL_NAMES,
    apply_default_permissions,
    existing_versions,
    model_image_shape,
    write_text_atomic,
)
from keras_latentquant.models.autoencoders import get_bottleneck

__all__ = [
    "MODEL_NAMES",
    "build_serving_modules",
    "export_models",
    "existing_versions",
    "format_tree",
    "models_config",
    "rest_request_to_inputs",
    "rest_response",
]

# ---------------------------------------------------------------------------- serving modules
def _assert_shape(tensor, name: str, dtype: str, tail: tuple):
    """Fails unless `tensor` has shape `[batch, *tail]`; returns it (control-dependent).

    A signature's TensorSpec rejects a wrong dtype before the graph runs, but a loaded signature does
    not check shapes, so the shape is asserted here, before any op that would fail on it obscurely.
    """
    expected = ", ".join(["batch", *(str(int(size)) for size in tail)])
    message = f"`{name}` must be {dtype} of shape [{expected}]; got shape"
    shape = tf.shape(tensor)
    # Written without tf.rank or a cond on it: the loaded graph folds the rank to the signature's, so
    # a tensor of another rank must fail a comparison that is shape-safe at any rank. The first
    # len(tail) + 1 sizes (padded with zeros) must match and the element count must be batch * prod(tail).
    padded = tf.concat([shape, tf.zeros([len(tail) + 1], tf.int32)], axis=0)[1 : len(tail) + 1]
    matches = tf.logical_and(
        tf.reduce_all(tf.equal(padded, tf.constant(tail, dtype=tf.int32))),
        tf.equal(tf.size(tensor), shape[0] * int(np.prod(tail))),
    )
    check = tf.debugging.Assert(matches, [message, shape], name=f"{name}_shape")
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def _assert_codes_in_range(codes, num_values: list[int]):
    """Fails unless `0 <= codes[..., j] < num_values[j]` for every j; returns `codes` (control-dependent)."""
    num_values = [int(n) for n in num_values]
    codes = _assert_shape(codes, "codes", "int32", (len(num_values),))
    upper = tf.constant(num_values, dtype=tf.int32)
    message = f"codes out of range: dimension j takes indices 0..n_j-1 with n_j = {num_values}"
    checks = [
        tf.debugging.assert_greater_equal(codes, tf.zeros_like(codes), message=message),
        tf.debugging.assert_less(codes, tf.broadcast_to(upper, tf.shape(codes)), message=message),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(codes)


def _assert_unit_interval(images):
    """Fails unless every pixel lies in [0, 1]; returns `images` (control-dependent)."""
    message = (
        "images out of range: the float32 `images` input takes pixel values in [0, 1] (no NaN); "
        "send 0..255 pixels as uint8 to the `encode_uint8` signature"
    )
    # `x >= 0 and x <= 1` is False for NaN, so NaN pixels are rejected too.
    inside = tf.logical_and(images >= 0.0, images <= 1.0)
    check = tf.debugging.Assert(tf.reduce_all(inside), [message], name="images_in_unit_interval")
    with tf.control_dependencies([check]):
        return tf.identity(images)


class _EncoderModule(tf.Module):
    """images -> latents: `network` (its outputs from column `latent_slice` on), then `quantizer` codes or
    the `bottleneck` at inference."""

    def __init__(self, network: keras.Model, image_shape, latent_slice=None, quantizer=None, bottleneck=None):
        super().__init__(name="encoder")
        self.network = network
        self.quantizer = quantizer
        self.bottleneck = bottleneck
        self._latent_slice = latent_slice
        image_shape = tuple(int(s) for s in image_shape)
        self._image_shape = image_shape
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec((None, *image_shape), tf.float32, name="images")]
        )
        self.serve_uint8 = tf.function(
            self._serve_uint8, input_signature=[tf.TensorSpec((None, *image_shape), tf.uint8, name="images")]
        )

    def _latents(self, images):
        outputs = tf.cast(self.network(images, training=False), tf.float32)
        continuous = outputs if self._latent_slice is None else outputs[:, self._latent_slice:]
        if self.quantizer is not None:
            codes = self.quantizer.encode_codes(continuous)
            return {
                "continuous": continuous,
                "quantized": tf.cast(self.quantizer.decode_codes(codes), tf.float32),
                "codes": tf.cast(codes, tf.int32),
            }
        latents = continuous
        if self.bottleneck is not None:
            # What the decoder reads at inference. A stateless scope drops the layer's side effects
            # (metric updates, add_loss), which have no place in a serving graph.
            with keras.StatelessScope():
                latents = tf.cast(self.bottleneck(continuous, training=False), tf.float32)
        return {"latents": latents, "continuous": continuous}

    def _serve(self, images):
        images = _assert_shape(images, "images", "float32", self._image_shape)
        return self._latents(_assert_unit_interval(images))

    def _serve_uint8(self, images):
        images = _assert_shape(images, "images", "uint8", self._image_shape)
        return self._latents(tf.cast(images, tf.float32) / 255.0)


class _DecoderModule(tf.Module):
    """codes or latent values -> images in [0, 1]. `sigmoid` for a decoder of logits (autoencoders)."""

    def __init__(self, network: keras.Model, num_latents: int, sigmoid: bool, quantizer=None, name="decoder"):
        super().__init__(name=name)
        self.network = network
        self.quantizer = quantizer
        self._sigmoid = sigmoid
        self._num_latents = int(num_latents)
        self.decode_values = tf.function(
            self._decode_values, input_signature=[tf.TensorSpec((None, num_latents), tf.float32, name="values")]
        )
        if quantizer is not None:
            self.num_values = list(quantizer.values_per_dimension)
            # Saved with the module (read by the latent explorer on an export folder): each latent's codebook
            # values (padded rows) and their numbers.
            self.codebook = tf.Variable(quantizer.codebook_values().astype("float32"), trainable=False,
                                        name="codebook")
            self.values_per_dimension = tf.Variable(self.num_values, dtype=tf.int32, trainable=False,
                                                    name="values_per_dimension")
            self.decode_codes = tf.function(
                self._decode_codes, input_signature=[tf.TensorSpec((None, num_latents), tf.int32, name="codes")]
            )

    def _decode_values(self, values):
        values = _assert_shape(values, "values", "float32", (self._num_latents,))
        return self._decode_values_unchecked(values)

    def _decode_values_unchecked(self, values):
        outputs = tf.cast(self.network(values, training=False), tf.float32)
        return {"images": tf.sigmoid(outputs) if self._sigmoid else outputs}

    def _decode_codes(self, codes):
        codes = _assert_codes_in_range(codes, self.num_values)
        return self._decode_values_unchecked(tf.cast(self.quantizer.decode_codes(codes), tf.float32))


def build_serving_modules(model) -> dict:
    """The `tf.Module`s to save and their signatures, by TF Serving model name.

    Args:
        model: an autoencoder from `models.build_autoencoder` (sub-models `encoder` and `decoder`) or an
            `InfoGAN` (`generator` and `critic`), trained or not.

    Returns:
        `{name: (module, signatures)}`: `encoder` and `decoder` for an autoencoder, `encoder` and
        `generator` for an InfoGAN; `signatures` maps signature names to concrete functions.

    Raises:
        ValueError: for a model of neither kind.
    """
    image_shape = model_image_shape(model)
    if hasattr(model, "generator") and hasattr(model, "critic"):
        quantizer = model.quantizer
        # The critic's head is (critic value, latent estimate): column 0 is dropped.
        encoder = _EncoderModule(model.critic, image_shape, latent_slice=1, quantizer=quantizer)
        decoder = _DecoderModule(model.generator, model.latent_dim, sigmoid=False, quantizer=quantizer,
                                 name="generator")
        names = ("encoder", "generator")
    else:
        layer_names = {layer.name for layer in getattr(model, "layers", [])}
        if not {"encoder", "decoder"} <= layer_names:
            raise ValueError(
                f"Cannot export model {getattr(model, 'name', model)!r}: expected an autoencoder with "
                "sub-models named 'encoder' and 'decoder' (models.build_autoencoder) or an InfoGAN "
                f"(generator and critic); its layers are {sorted(layer_names)}."
            )
        bottleneck = get_bottleneck(model)
        quantizer = bottleneck if isinstance(bottleneck, LatentQuantization) else None
        decoder_network = model.get_layer("decoder")
        encoder = _EncoderModule(
            model.get_layer("encoder"), image_shape, quantizer=quantizer,
            bottleneck=None if quantizer is not None else bottleneck,
        )
        decoder = _DecoderModule(decoder_network, int(decoder_network.input_shape[-1]), sigmoid=True,
                                 quantizer=quantizer)
        names = ("encoder", "decoder")

    encoder_signatures = {
        "serving_default": encoder.serve.get_concrete_function(),
        "encode_uint8": encoder.serve_uint8.get_concrete_function(),
    }
    if decoder.quantizer is not None:
        decoder_signatures = {
            "serving_default": decoder.decode_codes.get_concrete_function(),
            "decode_values": decoder.decode_values.get_concrete_function(),
        }
    else:
        decoder_signatures = {"serving_default": decoder.decode_values.get_concrete_function()}
    return {names[0]: (encoder, encoder_signatures), names[1]: (decoder, decoder_signatures)}


# ---------------------------------------------------------------------------- writing
def models_config(base_paths: Mapping[str, str]) -> str:
    """TF Serving's `--model_config_file` text proto for `{model name: base path}`."""
    entries = "".join(
        f"  config {{\n    name: {json.dumps(name)}\n    base_path: {json.dumps(path)}\n"
        f"    model_platform: \"tensorflow\"\n  }}\n"
        for name, path in base_paths.items()
    )
    return f"model_config_list {{\n{entries}}}\n"


def export_models(model, output_dir: str, version: int = 1, serving_base_path: str | None = None) -> dict:
    """Writes `output_dir/<name>/<version>/` SavedModels and `output_dir/models.config`.

    Each SavedModel is written into a hidden temporary folder beside its target (TF Serving only loads
    folders named by a number) and renamed into place once complete, so a version folder is never seen
    half-written; on any failure the temporary folders are removed and nothing is renamed.

    Args:
        model: an autoencoder or InfoGAN (see `build_serving_modules`).
        output_dir: the export root.
        version: the version number (a positive int) of the folders to write.
        serving_base_path: where the server sees `output_dir` (e.g. `/models` in a container); default
            the absolute `output_dir`. Used only in `models.config`.

    Returns:
        `{name: version folder written}`.

    Raises:
        ValueError: a bad version.
        FileExistsError: a version folder exists already (nothing is written).
    """
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's version folder name); got {version!r}.")
    modules = build_serving_modules(model)
    existing = existing_versions(output_dir, version, modules)
    if existing:
        raise FileExistsError(
            f"Version {version} exists already: {', '.join(existing)}. Pass --version with a new number "
            "(TF Serving serves the highest) or remove it."
        )
    temporary = {}
    try:
        for name, (module, signatures) in modules.items():
            parent = os.path.join(output_dir, name)
            os.makedirs(parent, exist_ok=True)
            temporary[name] = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=parent)
            tf.saved_model.save(module, temporary[name], signatures=signatures)
            apply_default_permissions(temporary[name])  # mkdtemp makes it owner-only
        written = {}
        for name, path in temporary.items():
            target = os.path.join(output_dir, name, str(version))
            os.rename(path, target)
            written[name] = target
    finally:
        for path in temporary.values():
            if os.path.exists(path):
                shutil.rmtree(path, ignore_errors=True)

    base = serving_base_path or os.path.abspath(output_dir)
    write_text_atomic(
        os.path.join(output_dir, "models.config"),
        models_config({name: f"{base.rstrip('/')}/{name}" for name in modules}),
    )
    return written


def format_tree(root: str) -> str:
    """An indented listing of the folders and files under `root`, with file sizes."""
    lines = [root.rstrip("/") + "/"]
    for folder, subfolders, files in sorted(os.walk(root)):
        subfolders.sort()
        depth = os.path.relpath(folder, root).count(os.sep) + (folder != root)
        if folder != root:
            lines.append("  " * (depth - 1) + "  " + os.path.basename(folder) + "/")
        for name in sorted(files):
            size = os.path.getsize(os.path.join(folder, name))
            lines.append("  " * depth + "  " + f"{name}  ({size:,} bytes)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- REST format
def _input_specs(signature) -> dict:
    """`{input name: TensorSpec}` of a loaded signature (keyword inputs) or of a concrete function of
    `build_serving_modules` (positional inputs, named by their specs)."""
    positional, keywords = signature.structured_input_signature
    return dict(keywords) if keywords else {spec.name: spec for spec in positional}


def _to_tensor(name: str, value, spec: tf.TensorSpec) -> tf.Tensor:
    # As TF Serving does: JSON numbers take the signature input's dtype; an integer input refuses
    # fractional numbers rather than truncate them, and the shape must fit the signature's.
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"input {name!r}: expected a (nested) list of numbers of shape {spec.shape}; "
                         f"got ragged or non-numeric JSON.")
    if spec.dtype.is_integer and np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError(f"input {name!r} is {spec.dtype.name}: got non-integer numbers.")
    if spec.dtype.is_integer:
        info = np.iinfo(spec.dtype.as_numpy_dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"input {name!r} is {spec.dtype.name}: values must lie in {info.min}..{info.max}.")
    if not spec.shape.is_compatible_with(array.shape):
        raise ValueError(f"input {name!r} must have shape {spec.shape} ({spec.dtype.name}); got shape "
                         f"{list(array.shape)}.")
    return tf.constant(array.astype(spec.dtype.as_numpy_dtype))


def rest_request_to_inputs(request, signature) -> dict:
    """Keyword arguments for `signature` from a TF Serving REST predict request body.

    Mirrors TF Serving's JSON conversion (`POST /v1/models/<name>:predict`):
      - row format `{"instances": [...]}`: one entry per example, either the example's value (a signature
        with one input) or `{input name: value}`; the entries are stacked along a new batch axis;
      - columnar format `{"inputs": ...}`: the batched value (one input) or `{input name: batched value}`.
    `"signature_name"` picks the signature on the server; here the caller passes the signature itself.

    Args:
        request: the JSON body, as a string or parsed dict.
        signature: a concrete function (`loaded.signatures[name]` or one from `build_serving_modules`).

    Returns:
        `{input name: tf.Tensor}` of the signature's dtypes.

    Raises:
        ValueError: a malformed request, missing or unknown input names, or values that do not fit the
            signature's dtype or shape.
    """
    if isinstance(request, (str, bytes)):
        request = json.loads(request)
    specs = _input_specs(signature)
    keys = {"instances", "inputs"} & set(request)
    if len(keys) != 1:
        raise ValueError('A predict request holds exactly one of "instances" (row format) or "inputs" '
                         f"(columnar format); got keys {sorted(request)}.")
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise ValueError('"instances" must be a non-empty list, one entry per example.')
        if all(isinstance(instance, dict) for instance in instances):
            columns = {name: [instance.get(name) for instance in instances] for name in instances[0]}
            if any(set(instance) != set(instances[0]) for instance in instances):
                raise ValueError('Every entry of "instances" must name the same inputs.')
        elif len(specs) == 1:
            columns = {next(iter(specs)): instances}
        else:
            raise ValueError(f"This signature has inputs {sorted(specs)}: each instance must be an object "
                             "naming them.")
    else:
        inputs = request["inputs"]
        columns = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs} if len(specs) == 1 else None
        if columns is None:
            raise ValueError(f'This signature has inputs {sorted(specs)}: "inputs" must be an object naming them.')
    if set(columns) != set(specs):
        raise ValueError(f"The signature takes inputs {sorted(specs)}; the request gives {sorted(columns)}.")
    return {name: _to_tensor(name, columns[name], specs[name]) for name in specs}


def rest_response(outputs: Mapping, row_format: bool = True) -> dict:
    """What TF Serving answers for signature `outputs` (a dict of tensors with a leading batch axis).

    Row format (the request had `"instances"`): `{"predictions": [...]}`, one entry per example, the
    example's value when the signature has one output, else `{output name: value}`. Columnar format
    (`"inputs"`): `{"outputs": value}` for one output, else `{"outputs": {output name: batched value}}`.
    """
    arrays = {name: np.asarray(value).tolist() for name, value in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(arrays.values())) if len(arrays) == 1 else arrays}
    if len(arrays) == 1:
        return {"predictions": next(iter(arrays.values()))}
    size = len(next(iter(arrays.values())))
    return {"predictions": [{name: value[i] for name, value in arrays.items()} for i in range(size)]}
