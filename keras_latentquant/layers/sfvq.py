"""Space-filling vector quantization: inputs quantized to the nearest point of a learned curve.

From Vali and Bäckström, "Interpretable Latent Space Using Space-Filling Curves for Phonetic Analysis
in Voice Conversion" (Interspeech 2023), paper.md section 7. The codebook is the ordered list of corner
points `c_0, ..., c_{n-1}` of a piecewise-linear curve. An input `x` is quantized to its projection onto
the nearest segment: `t_k = clip((x - c_k).(c_{k+1} - c_k) / ||c_{k+1} - c_k||^2, 0, 1)`,
`q_k = c_k + t_k (c_{k+1} - c_k)`, `k* = argmin_k ||x - q_k||`, and `k* + t_{k*}` in `[0, n - 1]` is the
input's position along the curve, a 1-D interpretable coordinate. Training uses noise substitution
(NSVQ, Vali and Bäckström 2022): `x_hat = x + ||q - x|| v / ||v||` with `v ~ N(0, I)`, whose gradient
reaches both the input and the corner points (through the norm). The curve starts with a few corner
points and is doubled (each point split into two close copies along the curve) up to its final size.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
from keras import ops

from keras_latentquant.layers.codebook_usage import usage_statistics
from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import (
    latent_axis_size,
    require_built,
    validate_fraction,
    validate_initializer,
    validate_int,
    validate_seed,
    validate_share,
    validate_weight,
)

__all__ = ["SFVQGrowth", "SpaceFillingVectorQuantization"]

TRAINING_MODES = ("nsvq", "straight_through")
_DEFAULT_REPLACEMENT_THRESHOLD = 0.01


@keras.saving.register_keras_serializable(package="keras_latentquant")
class SpaceFillingVectorQuantization(keras.layers.Layer):
    """Quantizes each input vector to the nearest point of a piecewise-linear curve of learned corner points.

    The codebook is a float32 weight `codebook` of shape `(num_points, dim)`: the corner points of the
    curve, in order. Only the first `active` of them are used; `active` starts at `initial_points` and
    is doubled by `grow()` (or the `SFVQGrowth` callback) up to `num_points`. It lives in the
    non-trainable float32 weight `active_points`, so a compiled training step reads the current value,
    and `.keras` / SavedModel files keep the grown state.

    Quantization is an exact projection onto the `active - 1` segments `[c_k, c_{k+1}]` (the parameter
    along each segment clipped to `[0, 1]`, so an input beyond an end of the curve goes to that end),
    vectorized over inputs and segments.

    Args:
        num_points: final number of corner points (`2**bits` in the paper), at least 2, equal to
            `initial_points * 2**m` for some integer `m >= 0` (growth doubles).
        initial_points: number of corner points in use at the start (paper: 4), between 2 and
            `num_points`.
        training_mode: `"nsvq"` (default): in training the output is `x + ||q - x|| v / ||v||` with a
            fresh `v ~ N(0, I)` per input, so a loss on the output trains both the input and the corner
            points, and no loss term is added. `"straight_through"`: the output is `q` with the identity
            gradient to `x`; the corner points are trained by the codebook loss below.
        replacement_threshold: a corner point whose share of the inputs (counted by `replace_unused`)
            is below this value is replaced. A share of inputs, so it must lie in `[0, 1 / num_points)`
            (`1 / num_points` is every point's share under uniform use of the full curve); 0 disables
            replacement. None (default) means 0.01, or `0.5 / num_points` when that is smaller.
        quantization_weight: straight-through mode only: weight of the codebook loss
            `mean((sg(x) - q)^2)`, default 1.0 (as VQ-VAE).
        commitment_weight: straight-through mode only: weight of the commitment loss
            `mean((x - sg(q))^2)`, default 0.25 (VQ-VAE's beta).
        split_perturbation: how far apart the two copies of a split corner point are: each copy moves
            this fraction of the adjacent segment towards its neighbour along the curve. In `(0, 0.5)`,
            default 0.01.
        initializer: initial corner points. None (default): the first `initial_points` evenly spaced on
            the diagonal of `[-0.5, 0.5]^dim` (a straight curve through the origin), the rest equal to
            the last one (unused until the curve grows). Otherwise any `keras.initializers.get`
            identifier, applied to all `num_points` rows.
        seed: int seed of the NSVQ noise, and of `initializer` when that is a seedable identifier given
            without a seed; None draws fresh randomness.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(..., dim)`; any number of leading axes.
        training: in NSVQ mode, True gives the noise-substituted output and False/None the exact
            projection. In both modes True also adds the batch's corner point usage to `point_usage`
            (the counts `replace_unused` reads by default).
        return_position: if True, return `(outputs, position)` with the float32 curve position
            `segment + fraction` in `[0, active - 1]`, shape `inputs.shape[:-1]`.

    Input shape:
        `(..., dim)` with a known last axis.

    Output shape:
        Same as the input.

    Losses:
        Straight-through mode: `quantization_weight * quantization_loss + commitment_weight *
        commitment_loss` through `add_loss`, both means over every element, computed from the raw inputs
        and projections. NSVQ mode adds none. Monitored through Keras metrics owned by the layer:
        `<name>_quantization_error` (mean over inputs of the squared distance `||x - q||^2` to the
        curve), `<name>_perplexity` (`exp(entropy)` of the batch's corner point usage, between 1 and
        `active`) and `<name>_usage` (fraction of the active corner points used in the batch). An input
        uses the corner point nearest to it along the curve, `round(position)`.

    Example:

    >>> layer = SpaceFillingVectorQuantization(num_points=16, initial_points=4)
    >>> quantized, position = layer(np.array([[0.1, 0.3]], "float32"), return_position=True)  # position 2.1
    >>> layer.grow()  # 8 corner points in use
    """

    def __init__(
        self,
        num_points: int,
        initial_points: int = 4,
        training_mode: str = "nsvq",
        replacement_threshold: float | None = None,
        quantization_weight: float = 1.0,
        commitment_weight: float = 0.25,
        split_perturbation: float = 0.01,
        initializer=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_points = validate_int("num_points", num_points, minimum=2)
        self.initial_points = validate_int("initial_points", initial_points, minimum=2)
        if self.initial_points > self.num_points:
            raise ValueError(
                f"initial_points must not exceed num_points; got initial_points={self.initial_points} "
                f"and num_points={self.num_points}. Pass initial_points <= {self.num_points}."
            )
        ratio = self.num_points // self.initial_points
        if self.num_points % self.initial_points or ratio & (ratio - 1):
            raise ValueError(
                f"num_points must be initial_points times a power of two (the curve grows by doubling); "
                f"got num_points={self.num_points} and initial_points={self.initial_points}."
            )
        if training_mode not in TRAINING_MODES:
            raise ValueError(f"training_mode must be one of {TRAINING_MODES}; got {training_mode!r}.")
        self.training_mode = training_mode
        self.replacement_threshold = None if replacement_threshold is None else validate_share(
            "replacement_threshold", replacement_threshold, self.num_points, "inputs",
            extra=" Use 0 to disable replacement.",
        )
        self.quantization_weight = validate_weight("quantization_weight", quantization_weight)
        self.commitment_weight = validate_weight("commitment_weight", commitment_weight)
        self.split_perturbation = validate_fraction(
            "split_perturbation", split_perturbation, 0.5,
            note="the fraction of a segment each copy of a split point moves",
        )
        self.initializer = validate_initializer(initializer)
        self.seed = validate_seed(seed)
        self.supports_masking = False

        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.quantization_error_tracker = MonitoredMean(name=f"{self.name}_quantization_error")
        self.perplexity_tracker = MonitoredMean(name=f"{self.name}_perplexity")
        self.usage_tracker = MonitoredMean(name=f"{self.name}_usage")

    @property
    def effective_replacement_threshold(self) -> float:
        """The share below which `replace_unused` replaces a corner point (resolves the None default)."""
        if self.replacement_threshold is None:
            return min(_DEFAULT_REPLACEMENT_THRESHOLD, 0.5 / self.num_points)
        return self.replacement_threshold

    # ------------------------------------------------------------------ weights
    def build(self, input_shape):
        self.dim = latent_axis_size(
            input_shape, type(self).__name__, size="dim", items="vectors", meaning="the vector size"
        )
        self.input_spec = keras.InputSpec(min_ndim=1, axes={-1: self.dim})
        # float32 whatever the dtype policy: projections onto short segments must not round away
        # under mixed_float16.
        self.codebook = self.add_weight(
            name="codebook",
            shape=(self.num_points, self.dim),
            initializer=self._codebook_initializer(),
            dtype="float32",
            trainable=True,
            autocast=False,
        )
        # An integer held in float32 (exact up to 2**24): every weight of a layer stays float32, and a
        # float variable reads on any device inside XLA.
        self.active_points = self.add_weight(
            name="active_points",
            shape=(),
            initializer=keras.initializers.Constant(float(self.initial_points)),
            dtype="float32",
            trainable=False,
            autocast=False,
        )
        # Inputs per corner point seen in training since the last growth or replacement. Synchronized
        # on read: under a tf.distribute strategy each replica adds its own batch's counts (no
        # cross-replica op in the forward pass, which would corrupt add_loss in Keras 3.15, see
        # vector_quantization.py) and reading it from the host sums the replicas.
        self.point_usage = keras.Variable(
            initializer=np.zeros((self.num_points,), "float32"),
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="sum",
            synchronization="on_read",
            name="point_usage",
        )

    def _codebook_initializer(self):
        if self.initializer is None:
            positions = np.minimum(np.arange(self.num_points), self.initial_points - 1)
            line = -0.5 + positions / (self.initial_points - 1)
            initial = np.repeat(line[:, None], self.dim, axis=1).astype("float32")
            return keras.initializers.Constant(initial)
        initializer = keras.initializers.get(self.initializer)
        config = initializer.get_config()
        if self.seed is not None and "seed" in config and config["seed"] is None:
            initializer = initializer.__class__.from_config({**config, "seed": self.seed})
        return initializer

    @property
    def num_active_points(self) -> int:
        """Number of corner points in use now (host value of `active_points`)."""
        self._require_built("num_active_points")
        return round(float(ops.convert_to_numpy(self.active_points)))

    # ------------------------------------------------------------------ maths
    def _project(self, vectors):
        """Nearest curve point of float32 vectors `(M, dim)`: `(quantized, segment, fraction)`.

        `quantized` is differentiable with respect to the vectors and the two corner points of the
        chosen segment; the segment choice itself is not.
        """
        codebook = ops.convert_to_tensor(self.codebook)
        active = ops.cast(self.active_points, "int32")
        num_segments = self.num_points - 1
        starts, ends = codebook[:-1], codebook[1:]
        directions = ends - starts  # B_k = c_{k+1} - c_k, (S, D)

        # Distances measured from the centroid of the active corner points, so the expanded squared
        # norms below cancel less when inputs and curve sit far from the origin.
        point_mask = ops.cast(ops.arange(self.num_points) < active, "float32")
        centre = ops.sum(codebook * point_mask[:, None], axis=0) / ops.cast(active, "float32")
        inputs_centred = ops.stop_gradient(vectors - centre)
        starts_centred = ops.stop_gradient(starts - centre)
        directions = ops.stop_gradient(directions)

        # For every input and segment: t = clip((x - A).B / B.B, 0, 1), and the squared distance
        # ||x - A - tB||^2 = ||x - A||^2 - t (2 (x - A).B - t B.B), from matrix products only.
        squared_lengths = ops.sum(ops.square(directions), axis=-1)
        along = ops.matmul(inputs_centred, ops.transpose(directions)) - ops.sum(
            starts_centred * directions, axis=-1
        )
        fractions = _clipped_fraction(along, squared_lengths)
        to_starts = (
            ops.sum(ops.square(inputs_centred), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(inputs_centred, ops.transpose(starts_centred))
            + ops.sum(ops.square(starts_centred), axis=-1)
        )
        distances = to_starts - fractions * (2.0 * along - fractions * squared_lengths)
        # Only the segments between active corner points (k < active - 1) compete.
        valid = ops.arange(num_segments) < active - 1
        distances = ops.where(valid, distances, ops.cast(np.inf, "float32"))
        segment = ops.cast(ops.argmin(distances, axis=-1), "int32")

        # Exact projection onto the chosen segment, recomputed from the raw values (differentiable).
        start = ops.take(codebook, segment, axis=0)
        end = ops.take(codebook, segment + 1, axis=0)
        direction = end - start
        fraction = _clipped_fraction(
            ops.sum((vectors - start) * direction, axis=-1), ops.sum(ops.square(direction), axis=-1)
        )
        # An input nearest to an inner corner point ties between (k - 1, t = 1) and (k, t = 0), and
        # rounding (which differs between eager and graph execution) picks either: report it as
        # (k, 0) so segment and fraction do not depend on the pick.
        at_corner = ops.logical_and(fraction >= 1.0, segment < active - 2)
        segment = ops.where(at_corner, segment + 1, segment)
        fraction = ops.where(at_corner, 0.0, fraction)
        start = ops.where(at_corner[:, None], end, start)
        end = ops.take(codebook, segment + 1, axis=0)
        # (1 - t) c_k + t c_{k+1} is exactly c_k at t = 0 and c_{k+1} at t = 1.
        weight = ops.expand_dims(fraction, -1)
        quantized = (1.0 - weight) * start + weight * end
        return quantized, segment, fraction

    def call(self, inputs, training=None, return_position=False):
        latents = ops.cast(inputs, "float32")
        vectors = ops.reshape(latents, (-1, self.dim))
        quantized, segment, fraction = self._project(vectors)
        error = quantized - vectors
        squared_error = ops.sum(ops.square(error), axis=-1)

        if self.training_mode == "straight_through":
            # Codebook loss moves the corner points towards the (fixed) inputs, commitment loss the
            # inputs towards the (fixed) curve; both from the raw tensors, not the returned one.
            quantization_loss = ops.mean(ops.square(ops.stop_gradient(vectors) - quantized))
            commitment_loss = ops.mean(ops.square(vectors - ops.stop_gradient(quantized)))
            self.add_loss(
                self.quantization_weight * quantization_loss + self.commitment_weight * commitment_loss
            )
            # Forward value exactly q; gradient of the identity with respect to x.
            outputs = ops.stop_gradient(quantized) + (vectors - ops.stop_gradient(vectors))
        elif training:
            # NSVQ: x + ||q - x|| v / ||v||. The noise has the quantization error's norm, and the
            # norm carries the gradient to the corner points of the chosen segment.
            noise = self._noise(ops.shape(vectors))
            noise_norm = ops.sqrt(ops.maximum(ops.sum(ops.square(noise), axis=-1, keepdims=True), 1e-30))
            outputs = vectors + _safe_norm(squared_error)[:, None] * noise / noise_norm
        else:
            outputs = quantized

        position = ops.cast(segment, "float32") + fraction
        nearest_point = ops.cast(ops.round(ops.stop_gradient(position)), "int32")
        counts = ops.sum(ops.one_hot(nearest_point, self.num_points, dtype="float32"), axis=0)
        if training:
            self.point_usage.assign_add(counts)
        self._update_metrics(ops.stop_gradient(squared_error), counts)

        leading_shape = ops.shape(latents)[:-1]
        outputs = ops.cast(ops.reshape(outputs, ops.shape(latents)), self.compute_dtype)
        if return_position:
            return outputs, ops.reshape(ops.stop_gradient(position), leading_shape)
        return outputs

    def _noise(self, shape):
        """Standard normal draws; under a TensorFlow multi-replica strategy each replica gets its own stream
        (other backends draw from the seed generator with `keras.random`)."""
        if keras.backend.backend() != "tensorflow":
            return keras.random.normal(shape, seed=self.seed_generator)
        import tensorflow as tf

        seed = ops.cast(self.seed_generator.next(), "int64")
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # The seed generator's state is the same on every replica; folding in the replica id
            # keeps replicas from drawing identical noise for different inputs.
            seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
        return tf.random.stateless_normal(shape, seed=seed, dtype="float32")

    def _update_metrics(self, squared_error, counts):
        update_tracker(self.quantization_error_tracker, ops.mean(squared_error))
        perplexity, used_fraction = usage_statistics(counts, ops.cast(self.active_points, "float32"))
        update_tracker(self.perplexity_tracker, perplexity)
        update_tracker(self.usage_tracker, used_fraction)

    # ------------------------------------------------------------------ positions
    def project(self, inputs):
        """Exact nearest point on the curve (inference, no noise), with its segment and fraction.

        (Named `project`, not `quantize`: `keras.layers.Layer.quantize(mode)` is Keras's weight
        quantization API, which `Model.quantize` calls on every layer.)

        Args:
            inputs: float array or tensor of shape `(..., dim)`.

        Returns:
            `(quantized, segment, fraction)`: float32 `(..., dim)`, int32 `(...)` segment index `k` in
            `[0, active - 2]`, float32 `(...)` fraction `t` in `[0, 1]` along `[c_k, c_{k+1}]`. An input
            nearest to an inner corner point `c_k` gets `(k, 0)`; `t = 1` only at the curve's end.
        """
        latents = self._checked_inputs(inputs, "project")
        quantized, segment, fraction = self._project(ops.reshape(latents, (-1, self.dim)))
        leading_shape = ops.shape(latents)[:-1]
        return (
            ops.reshape(quantized, ops.shape(latents)),
            ops.reshape(segment, leading_shape),
            ops.reshape(fraction, leading_shape),
        )

    def curve_position(self, inputs):
        """Position along the curve, `segment + fraction`, float32 `(...)` in `[0, active - 1]`."""
        _, segment, fraction = self.project(inputs)
        return ops.cast(segment, "float32") + fraction

    def decode_position(self, positions):
        """Point of the curve at positions (linear interpolation between corner points).

        Args:
            positions: float array or tensor of any shape; values are clipped to `[0, active - 1]`.

        Returns:
            float32 tensor of shape `positions.shape + (dim,)`.
        """
        self._require_built("decode_position")
        positions = ops.convert_to_tensor(positions, "float32")
        last = ops.cast(self.active_points, "float32") - 1.0
        positions = ops.clip(positions, 0.0, last)
        # Position p lies on segment k = min(floor(p), active - 2) at fraction p - k (so p = active - 1
        # is the end of the last segment).
        segment = ops.minimum(ops.floor(positions), last - 1.0)
        fraction = ops.expand_dims(positions - segment, -1)
        segment = ops.cast(segment, "int32")
        codebook = ops.convert_to_tensor(self.codebook)
        start = ops.take(codebook, segment, axis=0)
        return start + fraction * (ops.take(codebook, segment + 1, axis=0) - start)

    def curve_points(self, num: int):
        """`num` points evenly spaced in position from the curve's start to its end, float32 `(num, dim)`."""
        num = validate_int("num", num, minimum=2)
        self._require_built("curve_points")
        return self.decode_position(np.linspace(0.0, self.num_active_points - 1, num, dtype="float32"))

    def evaluation_latents(self, inputs):
        """The representation disentanglement metrics score: the curve position (continuous).

        Returns:
            `(positions, False)` with positions of shape `(..., 1)`.
        """
        return ops.expand_dims(self.curve_position(inputs), -1), False

    # ------------------------------------------------------------------ growth and replacement
    def grow(self) -> int:
        """Doubles the corner points in use, keeping the curve's shape and order.

        Corner point `c_k` becomes the pair `c_k + e (c_{k-1} - c_k)`, `c_k + e (c_{k+1} - c_k)` with
        `e = split_perturbation` (the first and last points keep one copy in place): both copies lie on
        the old curve, in order, and the new segment between them cuts the corner by at most `e` times
        the longer adjacent segment. Runs on the host (eagerly, outside a compiled step; the
        `SFVQGrowth` callback calls it between steps) and resets `point_usage`. The optimizer's slot
        variables (Adam moments) are not touched: row `j` keeps the moments of the old row `j`.

        Returns:
            The new number of active corner points.
        """
        active = self.num_active_points
        if 2 * active > self.num_points:
            raise ValueError(
                f"The curve uses {active} of num_points={self.num_points} corner points; doubling would "
                "exceed num_points, so it cannot grow."
            )
        points = ops.convert_to_numpy(self.codebook)[:active]
        grown = _split_points(points, np.ones(active, dtype=bool), self.split_perturbation)
        self._set_curve(grown)
        return 2 * active

    def replace_unused(self, inputs=None, counts=None, threshold=None) -> int:
        """Moves rarely used corner points next to heavily used ones; returns how many moved.

        Corner point `j`'s share is the fraction of inputs whose nearest corner point along the curve
        (`round(position)`) is `j`. Points with a share below the threshold are unused. Up to one unused
        point per used point is replaced, least used first: the unused point is removed from the
        sequence (its neighbours are joined by a straight segment) and the most used remaining point
        is split in two like `grow()` does (copies `split_perturbation` of the way towards each
        neighbour), the i-th least used unused point going to the i-th most used point. The number of
        corner points in use stays the same, new points lie on the curve next to busy ones, and the
        order along the curve is kept. Runs on the host; resets `point_usage`.

        Args:
            inputs: optional float array `(..., dim)`: count the usage from these inputs.
            counts: optional array of per-point counts, length `active` or `num_points`.
            (With neither, the counts accumulated in `point_usage` by training calls are used.)
            threshold: share below which a point is unused; default `effective_replacement_threshold`.

        Returns:
            Number of corner points replaced (0 when nothing was counted or nothing is unused).
        """
        self._require_built("replace_unused")
        if inputs is not None and counts is not None:
            raise ValueError("Pass inputs or counts to replace_unused, not both.")
        active = self.num_active_points
        if inputs is not None:
            positions = ops.convert_to_numpy(self.curve_position(inputs)).ravel()
            counts = np.bincount(np.rint(positions).astype(np.int64), minlength=active)[:active]
        elif counts is not None:
            counts = np.asarray(counts, dtype=np.float64)
            if counts.ndim != 1 or len(counts) not in (active, self.num_points):
                raise ValueError(
                    f"counts must be a vector of length active={active} or num_points={self.num_points}; "
                    f"got shape {counts.shape}."
                )
            counts = counts[:active]
        else:
            counts = ops.convert_to_numpy(self.point_usage)[:active]
        counts = np.asarray(counts, dtype=np.float64)
        threshold = self.effective_replacement_threshold if threshold is None else float(threshold)
        total = counts.sum()
        if threshold <= 0 or total <= 0:
            return 0
        share = counts / total
        unused = np.flatnonzero(share < threshold)
        used = np.flatnonzero(share >= threshold)
        num_replaced = min(len(unused), len(used))
        if num_replaced == 0:
            return 0
        removed = unused[np.argsort(share[unused], kind="stable")[:num_replaced]]
        donors = used[np.argsort(-share[used], kind="stable")[:num_replaced]]
        kept = np.setdiff1d(np.arange(active), removed)  # sorted: order along the curve kept
        points = ops.convert_to_numpy(self.codebook)[kept]
        self._set_curve(_split_points(points, np.isin(kept, donors), self.split_perturbation))
        return int(num_replaced)

    def _set_curve(self, points):
        """Writes the first `len(points)` corner points, makes them the active ones, resets usage."""
        codebook = ops.convert_to_numpy(self.codebook).copy()
        codebook[: len(points)] = points
        # Rows beyond the active ones are unused; keep them at the last point (a finite value).
        codebook[len(points):] = points[-1]
        self.codebook.assign(codebook)
        self.active_points.assign(float(len(points)))
        self.point_usage.assign(np.zeros((self.num_points,), "float32"))

    # ------------------------------------------------------------------ helpers
    def _checked_inputs(self, inputs, caller):
        inputs = ops.convert_to_tensor(inputs)
        if not self.built:
            self.build(tuple(inputs.shape))
        if len(inputs.shape) == 0 or inputs.shape[-1] != self.dim:
            raise ValueError(
                f"{caller} needs inputs of shape (..., {self.dim}) (the layer was built for vectors of "
                f"size {self.dim}); got shape {tuple(inputs.shape)}."
            )
        return ops.cast(inputs, "float32")

    def _require_built(self, caller):
        require_built(self, caller, inputs="inputs", shape="(None, dim)")

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None, return_position=False):
        # Overridden (not left to compute_output_shape, which cannot see return_position) so that a
        # functional model gets both outputs with return_position=True.
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if return_position:
            return outputs, keras.KerasTensor(tuple(inputs.shape)[:-1], dtype="float32")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_points": self.num_points,
                "initial_points": self.initial_points,
                "training_mode": self.training_mode,
                "replacement_threshold": self.replacement_threshold,
                "quantization_weight": self.quantization_weight,
                "commitment_weight": self.commitment_weight,
                "split_perturbation": self.split_perturbation,
                "initializer": self.initializer,
                "seed": self.seed,
            }
        )
        return config


class SFVQGrowth(keras.callbacks.Callback):
    """Grows a `SpaceFillingVectorQuantization` curve on a schedule during `fit`, replacing unused points.

    After each training batch the callback reads the optimizer's step count `s` and, while the curve
    has fewer corner points than the schedule asks for at `s` (`initial_points * 2**g`, `g` the
    number of growth steps reached, capped at `num_points`), first calls `replace_unused()` (with the
    usage counted in training since the last growth) and then `grow()`. The target follows from the
    step count, so resuming training from a saved model does not grow twice. Everything happens on the
    host between steps, never inside the compiled (or distributed) step.

    Args:
        layer: the layer, or its name (searched in the model and its nested models).
        schedule: an int `N` (grow after every `N` optimizer steps) or an increasing sequence of step
            counts after which to grow.
        replace_unused: if True (default), call `layer.replace_unused()` before each growth.
        replace_every: optional int: also call `replace_unused()` every this many steps.
        verbose: 1 prints a line per growth and replacement.
    """

    def __init__(self, layer, schedule, replace_unused: bool = True, replace_every=None, verbose: int = 0):
        super().__init__()
        if not isinstance(layer, (str, SpaceFillingVectorQuantization)):
            raise ValueError(
                f"layer must be a SpaceFillingVectorQuantization layer or its name; got {layer!r}."
            )
        self.layer = layer
        if isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
            self.schedule = validate_int("schedule", schedule, minimum=1)
        else:
            try:
                steps = [int(s) for s in schedule]
                valid = all(float(s) == int(s) for s in schedule)
            except (TypeError, ValueError):
                steps, valid = [], False
            if not valid or not steps or steps[0] < 1 or any(b <= a for a, b in itertools.pairwise(steps)):
                raise ValueError(
                    "schedule must be a positive int (grow every N steps) or a non-empty increasing "
                    f"sequence of positive step counts; got {schedule!r}."
                )
            self.schedule = steps
        self.replace_unused = bool(replace_unused)
        self.replace_every = (
            None if replace_every is None else validate_int("replace_every", replace_every, minimum=1)
        )
        self.verbose = int(verbose)
        self._quantizer = None
        self._last_step = 0

    def growths_due(self, step: int) -> int:
        """Number of growth steps the schedule has reached after `step` optimizer steps."""
        if isinstance(self.schedule, int):
            return step // self.schedule
        return int(np.searchsorted(self.schedule, step, side="right"))

    def on_train_begin(self, logs=None):
        self._quantizer = self._resolve_layer()
        self._last_step = self._step()

    def on_train_batch_end(self, batch, logs=None):
        layer = self._quantizer
        step = self._step()
        every = self.replace_every
        if every is not None and step // every > self._last_step // every:
            self._replace(layer, step)
        target = min(layer.initial_points * 2 ** self.growths_due(step), layer.num_points)
        while layer.num_active_points < target:
            if self.replace_unused:
                self._replace(layer, step)
            active = layer.grow()
            if self.verbose:
                print(f"SFVQGrowth: step {step}: {layer.name} grown to {active} corner points.")
        self._last_step = step

    def _replace(self, layer, step):
        replaced = layer.replace_unused()
        if self.verbose and replaced:
            print(f"SFVQGrowth: step {step}: replaced {replaced} unused corner points of {layer.name}.")

    def _step(self):
        return int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def _resolve_layer(self):
        if isinstance(self.layer, SpaceFillingVectorQuantization):
            return self.layer
        found = _find_layer(self.model, self.layer)
        if not isinstance(found, SpaceFillingVectorQuantization):
            raise ValueError(
                f"SFVQGrowth found no SpaceFillingVectorQuantization layer named {self.layer!r} in "
                f"model {self.model.name!r}."
            )
        return found


def _find_layer(model, name):
    for layer in getattr(model, "layers", []):
        if layer.name == name:
            return layer
        nested = _find_layer(layer, name)
        if nested is not None:
            return nested
    return None


def _split_points(points, split, perturbation):
    """Corner points `(m, D)` with each point where `split` is True replaced by two close copies.

    Copy one moves `perturbation` of the way towards the previous point, copy two towards the next
    (the ends have no outer neighbour and keep a copy in place), so both lie on the curve, in order.
    """
    previous = np.concatenate([points[:1], points[:-1]])
    following = np.concatenate([points[1:], points[-1:]])
    towards_previous = points + perturbation * (previous - points)
    towards_following = points + perturbation * (following - points)
    first = np.where(split[:, None], towards_previous, points)
    pairs = np.stack([first, towards_following], axis=1)  # (m, 2, D)
    keep = np.stack([np.ones_like(split), split], axis=1)  # second copy only where split
    return pairs[keep].astype("float32")


def _clipped_fraction(along, squared_lengths):
    """`clip(along / squared_lengths, 0, 1)`, and 0 for a zero-length segment (no NaN, no NaN gradient)."""
    positive = squared_lengths > 0
    safe_lengths = ops.where(positive, squared_lengths, 1.0)
    return ops.where(positive, ops.clip(along / safe_lengths, 0.0, 1.0), 0.0)


def _safe_norm(squared):
    """`sqrt(squared)` with a zero (not NaN) gradient where `squared` is 0 (inputs on the curve)."""
    positive = squared > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, squared, 1.0)), 0.0)
