"""Vector quantization: one shared codebook of vectors (the VQ-VAE bottleneck).

From van den Oord, Vinyals and Kavukcuoglu, "Neural Discrete Representation Learning" (NeurIPS 2017),
the VQ-VAE baseline that Hsu et al., "Disentanglement via Latent Quantization" (NeurIPS 2023), compare
their per-dimension scalar codebooks against. The `num_latents` encoder outputs are viewed as
`num_latents / vector_dim` vectors `z_i`, and every vector is replaced by its nearest codeword of ONE
codebook `e` of `num_codes` vectors shared by all positions: `k_i = argmin_k ||z_i - e_k||^2`,
`q_i = e_{k_i}`. Gradients reach the encoder by the straight-through estimator `z + sg(q - z)`; the
codebook is trained either by the codebook loss `mean((sg(z) - q)^2)` or, with `ema=True`, by
exponential moving averages of the encodings assigned to each codeword (van den Oord et al., appendix
A.1): `N_k <- d N_k + (1 - d) n_k`, `m_k <- d m_k + (1 - d) sum_{i: k_i = k} z_i`, `e_k = m_k / N_k`
with Laplace smoothing of `N_k`. The commitment loss `mean((z - sg(q))^2)` keeps encodings near their
codewords in both modes.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_latentquant.layers.codebook_usage import usage_statistics
from keras_latentquant.layers.monitoring import MonitoredMean, replica_context, update_tracker
from keras_latentquant.layers.validation import (
    latent_axis_size,
    require_built,
    validate_codes,
    validate_fraction,
    validate_initializer,
    validate_int,
    validate_positive,
    validate_seed,
    validate_share,
    validate_weight,
)

__all__ = ["VectorQuantization"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class VectorQuantization(keras.layers.Layer):
    """Replaces each `vector_dim`-sized slice of the latents by its nearest codeword of one codebook.

    Args:
        num_codes: number of codewords in the shared codebook (at least 2). Library default 64
            (the paper does not fix one for its VQ-VAE baseline).
        vector_dim: size of each quantized vector; the input's last axis must be a multiple of it and
            is split into `num_latents // vector_dim` consecutive vectors. Default 2. `vector_dim=1`
            gives one scalar codebook shared by all dimensions; `vector_dim=num_latents` one code per
            input.
        quantization_weight: weight of the codebook loss `mean((sg(z) - q)^2)`, default 1.0 (VQ-VAE).
            Not added with `ema=True`, where moving averages train the codebook instead (the value is
            still reported as a metric).
        commitment_weight: weight of the commitment loss `mean((z - sg(q))^2)`, default 0.25 (the
            VQ-VAE paper's beta).
        ema: if True the codebook is not trained by gradients but by exponential moving averages of
            assignment counts and summed encodings, updated in every call with `training=True`.
        decay: decay `d` of the moving averages in `(0, 1)`, default 0.99; also the decay of the code
            usage average that `dead_code_threshold` reads.
        epsilon: Laplace smoothing constant of the EMA counts (> 0), default 1e-5:
            `N_k <- (N_k + eps) / (sum_j N_j + num_codes * eps) * sum_j N_j`, so a codeword that is
            never chosen is not divided by zero.
        dead_code_threshold: codewords whose moving average share of the assignments falls below this
            value are re-seeded, during training, with encodings drawn at random from the current
            batch. A share, so it must lie in `[0, 1 / num_codes)` (`1 / num_codes` is the share of
            every code under uniform usage); 0 (default) disables re-seeding. The average starts at
            `1 / num_codes` and moves by `decay` per step, so a never-used code is re-seeded after
            about `log(threshold * num_codes) / log(decay)` training steps.
        initializer: initializer of the codebook: None (default) for `uniform(-1/num_codes,
            1/num_codes)` as common VQ-VAE implementations use, or any `keras.initializers.get` identifier.
        seed: int seed of the default initializer and of the re-seeding draws, for reproducibility;
            None draws fresh randomness.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(..., num_latents)`; any number of leading axes.
        training: the moving averages (EMA codebook, code usage) and dead-code re-seeding only update
            when True, once per call, after the forward value is computed (the output uses the
            codebook from before the update). Inside a multi-replica `tf.distribute` strategy
            (`MirroredStrategy` in `fit`) the batch statistics are summed over replicas with
            `all_reduce`, so every replica applies the update of one device on the global batch, and
            re-seeded codewords come from the first replica's batch; there the update runs in the
            backward pass (see `_schedule_state_update` for why), so it needs gradients to flow back
            through the quantizer (a trainable encoder before it, as in any VQ-VAE).
        return_codes: if True, return `(quantized, codes)` with the int32 codes of shape
            `(..., num_latents // vector_dim)` as well.

    Input shape:
        `(..., num_latents)` with a known last axis divisible by `vector_dim`.

    Output shape:
        Same as the input.

    Losses:
        `quantization_weight * quantization_loss + commitment_weight * commitment_loss` (without the
        first term when `ema=True`), through `add_loss`, both means over every latent element, computed
        from the raw encodings and codewords. Monitored through Keras metrics owned by the layer:
        `<name>_quantization_loss`, `<name>_commitment_loss`, `<name>_perplexity` (`exp(entropy)` of the
        batch's code usage, between 1 and `num_codes`) and `<name>_usage` (fraction of the codewords
        used in the batch).

    Example:

    >>> layer = VectorQuantization(num_codes=8, vector_dim=2, seed=0)
    >>> quantized = layer(np.random.normal(size=(4, 6)).astype("float32"))  # (4, 6)
    >>> codes = layer.encode_codes(np.zeros((4, 6), "float32"))  # int32, (4, 3)
    """

    def __init__(
        self,
        num_codes: int = 64,
        vector_dim: int = 2,
        quantization_weight: float = 1.0,
        commitment_weight: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        dead_code_threshold: float = 0.0,
        initializer=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_codes = validate_int("num_codes", num_codes, minimum=2)
        self.vector_dim = validate_int("vector_dim", vector_dim, minimum=1)
        self.quantization_weight = validate_weight("quantization_weight", quantization_weight)
        self.commitment_weight = validate_weight("commitment_weight", commitment_weight)
        self.ema = bool(ema)
        self.decay = validate_fraction("decay", decay)
        self.epsilon = validate_positive("epsilon", epsilon)
        self.dead_code_threshold = validate_share("dead_code_threshold", dead_code_threshold, self.num_codes, "assignments")
        self.seed = validate_seed(seed)
        self.initializer = validate_initializer(initializer)
        self.supports_masking = False

        # Draws for dead-code re-seeding; a SeedGenerator keeps them reproducible inside tf.function.
        self.seed_generator = (
            keras.random.SeedGenerator(self.seed) if self.dead_code_threshold > 0 else None
        )
        self.quantization_loss_tracker = MonitoredMean(name=f"{self.name}_quantization_loss")
        self.commitment_loss_tracker = MonitoredMean(name=f"{self.name}_commitment_loss")
        self.perplexity_tracker = MonitoredMean(name=f"{self.name}_perplexity")
        self.usage_tracker = MonitoredMean(name=f"{self.name}_usage")

    # ------------------------------------------------------------------ weights
    def build(self, input_shape):
        num_latents = latent_axis_size(input_shape, type(self).__name__)
        if num_latents % self.vector_dim != 0:
            raise ValueError(
                f"The number of latents (last axis of input shape {tuple(input_shape)}, {num_latents}) "
                f"must be divisible by vector_dim={self.vector_dim}; choose a vector_dim that divides "
                f"{num_latents}."
            )
        self.num_latents = num_latents
        self.num_vectors = self.num_latents // self.vector_dim

        # State written during training is written in replica context under a tf.distribute strategy
        # (see `_update_state`): the values are equal on every replica (statistics are all-reduced)
        # except re-seeded codewords, drawn from each replica's own batch; "only_first_replica" keeps
        # the copies identical.
        # float32 whatever the dtype policy: squared distances must not round away under mixed_float16.
        self.codebook = self.add_weight(
            name="codebook",
            shape=(self.num_codes, self.vector_dim),
            initializer=self._codebook_initializer(),
            dtype="float32",
            trainable=not self.ema,
            autocast=False,
            aggregation="only_first_replica",
        )
        if self.dead_code_threshold > 0:
            # Moving average of each code's share of the assignments; starts uniform.
            self.code_usage = self.add_weight(
                name="code_usage",
                shape=(self.num_codes,),
                initializer=keras.initializers.Constant(1.0 / self.num_codes),
                dtype="float32",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
            )
        if self.ema:
            # N_k = 1 and m_k = e_k at the start, so that e_k = m_k / N_k holds before the first step
            # and a code unused for t steps keeps e_k = d^t m_k / (d^t N_k) (up to smoothing) instead
            # of jumping to m_k / eps.
            self.ema_count = self.add_weight(
                name="ema_count",
                shape=(self.num_codes,),
                initializer="ones",
                dtype="float32",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
            )
            self.ema_sum = self.add_weight(
                name="ema_sum",
                shape=(self.num_codes, self.vector_dim),
                initializer=lambda shape, dtype=None: ops.convert_to_tensor(self.codebook),
                dtype="float32",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
            )

    def _codebook_initializer(self):
        if self.initializer is None:
            limit = 1.0 / self.num_codes
            return keras.initializers.RandomUniform(-limit, limit, seed=self.seed)
        return keras.initializers.get(self.initializer)

    # ------------------------------------------------------------------ maths
    def _nearest(self, flat_latents):
        """Codes (M,) and their one-hot (M, K) for float32 vectors of shape (M, vector_dim)."""
        # ||z - e_k||^2 = ||z||^2 - 2 z.e_k + ||e_k||^2, for all M vectors and K codewords at once.
        distances = (
            ops.sum(ops.square(flat_latents), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(flat_latents, ops.transpose(self.codebook))
            + ops.sum(ops.square(self.codebook), axis=-1)
        )
        codes = ops.cast(ops.argmin(distances, axis=-1), "int32")
        return codes, ops.one_hot(codes, self.num_codes, dtype="float32")

    def _split_vectors(self, latents):
        return ops.reshape(latents, (-1, self.vector_dim))

    def _codes_shape(self, latents):
        return tuple(ops.shape(latents)[:-1]) + (self.num_vectors,)

    def call(self, inputs, training=None, return_codes=False):
        latents = ops.cast(inputs, "float32")
        flat_latents = self._split_vectors(latents)
        codes, one_hot = self._nearest(flat_latents)
        # q = e_k as a one-hot contraction: each selected codeword gets a dense gradient.
        flat_quantized = ops.matmul(one_hot, self.codebook)

        # Codebook loss moves codewords towards the (fixed) encodings; commitment loss moves the
        # encodings towards the (fixed) codewords. Both from the raw tensors, never from the
        # straight-through output, so the codebook keeps its gradient.
        quantization_loss = ops.mean(ops.square(ops.stop_gradient(flat_latents) - flat_quantized))
        commitment_loss = ops.mean(ops.square(flat_latents - ops.stop_gradient(flat_quantized)))
        total_loss = self.commitment_weight * commitment_loss
        if not self.ema:
            total_loss = total_loss + self.quantization_weight * quantization_loss
        self.add_loss(total_loss)
        self._update_metrics(one_hot, quantization_loss, commitment_loss)

        # Straight-through: forward value q, gradient of the identity with respect to z. Written
        # sg(q) + (z - sg(z)) rather than z + sg(q - z): z - z is exactly 0, so the forward value is
        # exactly the codeword (z + (q - z) can be off by a rounding error); sg(q) keeps the task
        # loss's gradient off the codebook.
        quantized = ops.reshape(flat_quantized, ops.shape(latents))
        outputs = ops.stop_gradient(quantized) + (latents - ops.stop_gradient(latents))
        outputs = ops.cast(outputs, self.compute_dtype)
        if training and (self.ema or self.dead_code_threshold > 0):
            outputs = self._schedule_state_update(outputs, flat_latents, one_hot)
        if return_codes:
            return outputs, ops.reshape(codes, self._codes_shape(latents))
        return outputs

    def _schedule_state_update(self, outputs, flat_latents, one_hot):
        """Runs the training-time state update now, or, inside a multi-replica strategy, in the backward pass.

        Under a multi-replica strategy the update must all-reduce across replicas, and a cross-replica
        call inside the forward pass lets replica threads interleave while Keras collects `add_loss`
        terms in per-layer lists shared by the threads: one replica's losses are then cleared or
        counted by another (Keras 3.15 / TF 2.21). In the backward pass every replica has already
        computed its loss, so the update is attached to the output's gradient there instead. It then
        runs once per gradient computation that flows through the quantizer (in `fit`, once per step,
        given a trainable layer such as the encoder before it).
        """
        # Batch statistics and re-seeding candidates come from the forward pass either way.
        flat_latents = ops.stop_gradient(flat_latents)
        one_hot = ops.stop_gradient(one_hot)
        counts = ops.sum(one_hot, axis=0)
        sums = ops.matmul(ops.transpose(one_hot), flat_latents)
        replacements = None
        if self.dead_code_threshold > 0:
            replacements = self._random_batch_vectors(flat_latents)
        num_local = ops.shape(flat_latents)[0]
        context = replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            self._update_state(counts, sums, replacements, num_local)
            return outputs
        import tensorflow as tf  # several replicas: the TensorFlow backend

        @tf.custom_gradient
        def identity_with_update_on_backward(tensor):
            def gradient(upstream):
                # Variable writes are stateful ops: tf.function runs them without explicit dependencies.
                self._update_state(counts, sums, replacements, num_local)
                return tf.identity(upstream)

            return tf.identity(tensor), gradient

        return identity_with_update_on_backward(outputs)

    def _update_state(self, counts, sums, replacements, num_local):
        """Moving averages (EMA codebook, code usage) and dead-code re-seeding.

        Args:
            counts: `(K,)` assignments `n_k` of this replica's batch.
            sums: `(K, D)` sums `s_k` of the encodings assigned to each code.
            replacements: `(K, D)` one batch encoding per code (or None without re-seeding).
            num_local: number of vectors in this replica's batch.
        """
        # Summing over replicas before the update makes N replicas equal to one device on the
        # global batch.
        counts, sums = _sum_over_replicas(counts, sums)
        decay = self.decay
        if self.ema:
            # N_k <- d N_k + (1 - d) n_k ; m_k <- d m_k + (1 - d) s_k
            ema_count = decay * self.ema_count + (1.0 - decay) * counts
            ema_sum = decay * self.ema_sum + (1.0 - decay) * sums
            # Laplace smoothing keeps sum_k N_k and keeps every N_k > 0: e_k = m_k / N~_k.
            ema_total = ops.sum(ema_count)
            smoothed = (ema_count + self.epsilon) / (ema_total + self.num_codes * self.epsilon) * ema_total
            codebook = ema_sum / ops.expand_dims(smoothed, -1)
        else:
            codebook = ops.convert_to_tensor(self.codebook)

        if self.dead_code_threshold > 0:
            total = ops.sum(counts)
            share = counts / ops.maximum(total, 1.0)
            usage = ops.where(total > 0, decay * self.code_usage + (1.0 - decay) * share, self.code_usage)
            dead = ops.logical_and(usage < self.dead_code_threshold, num_local > 0)
            dead_rows = ops.expand_dims(dead, -1)
            codebook = ops.where(dead_rows, replacements, codebook)
            # A re-seeded code starts over from the uniform share (and, with EMA, from a count of one
            # holding just its new vector), so it gets time to attract encodings before judged again.
            usage = ops.where(dead, 1.0 / self.num_codes, usage)
            self.code_usage.assign(usage)
            if self.ema:
                ema_count = ops.where(dead, 1.0, ema_count)
                ema_sum = ops.where(dead_rows, replacements, ema_sum)

        if self.ema:
            self.ema_count.assign(ema_count)
            self.ema_sum.assign(ema_sum)
        self.codebook.assign(codebook)

    def _random_batch_vectors(self, flat_latents):
        """One batch encoding per codeword (K, vector_dim), distinct while the batch has >= K rows.

        Row k is row k (mod M) of the batch in a random order. For an empty batch (possible on one
        replica when the last global batch is small) the rows are zeros, and no code is re-seeded.
        """
        num_local = ops.shape(flat_latents)[0]
        order = ops.argsort(keras.random.uniform((num_local,), dtype="float32", seed=self.seed_generator))
        # One zero row appended so that the gather below stays in range for an empty batch.
        candidates = ops.concatenate(
            [ops.take(flat_latents, order, axis=0), ops.zeros((1, self.vector_dim), "float32")], axis=0
        )
        num_local = ops.cast(num_local, "int32")
        rows = ops.where(
            num_local > 0, ops.arange(self.num_codes, dtype="int32") % ops.maximum(num_local, 1), num_local
        )
        return ops.take(candidates, rows, axis=0)

    def _update_metrics(self, one_hot, quantization_loss, commitment_loss):
        update_tracker(self.quantization_loss_tracker, quantization_loss)
        update_tracker(self.commitment_loss_tracker, commitment_loss)
        # One shared codebook: usage over every vector of the batch.
        counts = ops.sum(ops.reshape(one_hot, (-1, self.num_codes)), axis=0)
        perplexity, used_fraction = usage_statistics(counts, float(self.num_codes))
        update_tracker(self.perplexity_tracker, perplexity)
        update_tracker(self.usage_tracker, used_fraction)

    # ------------------------------------------------------------------ codes
    def encode_codes(self, inputs):
        """Index of the nearest codeword of every vector of `inputs`.

        Args:
            inputs: float array or tensor of shape `(..., num_latents)`.

        Returns:
            int32 tensor of shape `(..., num_latents // vector_dim)`, entries in `[0, num_codes)`.
        """
        self._ensure_built(inputs)
        latents = ops.cast(inputs, "float32")
        codes, _ = self._nearest(self._split_vectors(latents))
        return ops.reshape(codes, self._codes_shape(latents))

    def decode_codes(self, codes):
        """Codewords of integer codes, concatenated back to latents: the inverse of `encode_codes`.

        Args:
            codes: integer array or tensor of shape `(..., num_latents // vector_dim)`. Indices outside
                `[0, num_codes)` are clipped into it (NumPy inputs are checked and rejected).

        Returns:
            float32 tensor of shape `(..., num_latents)`.
        """
        require_built(self, "decode_codes")
        codes = validate_codes(codes, self.num_vectors, self.num_codes)
        codes = ops.clip(ops.cast(codes, "int32"), 0, self.num_codes - 1)
        vectors = ops.take(ops.convert_to_tensor(self.codebook), codes, axis=0)
        return ops.reshape(vectors, tuple(ops.shape(codes)[:-1]) + (self.num_latents,))

    def evaluation_latents(self, inputs):
        """The representation disentanglement metrics score: the integer codes (discrete).

        Returns:
            `(codes, True)`, codes of shape `(..., num_latents // vector_dim)`.
        """
        return self.encode_codes(inputs), True

    def _ensure_built(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None, return_codes=False):
        # Overridden (compute_output_shape cannot see return_codes) so that a functional model gets
        # both outputs with return_codes=True.
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if return_codes:
            codes_shape = tuple(inputs.shape[:-1]) + (inputs.shape[-1] // self.vector_dim,)
            return outputs, keras.KerasTensor(codes_shape, dtype="int32")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_codes": self.num_codes,
                "vector_dim": self.vector_dim,
                "quantization_weight": self.quantization_weight,
                "commitment_weight": self.commitment_weight,
                "ema": self.ema,
                "decay": self.decay,
                "epsilon": self.epsilon,
                "dead_code_threshold": self.dead_code_threshold,
                "initializer": self.initializer,
                "seed": self.seed,
            }
        )
        return config


def _sum_over_replicas(*tensors):
    """Sums tensors over the replicas of the current tf.distribute strategy (identity without one)."""
    context = replica_context()
    # None: cross-replica context (the caller sees the whole batch already), or another backend.
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    import tensorflow as tf

    return tuple(context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors)))
