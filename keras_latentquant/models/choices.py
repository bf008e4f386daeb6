"""The names the model builders accept (architectures, GAN priors), declared without Keras.

The command-line scripts check their flags against these before anything imports TensorFlow, so a mistyped
name is answered at once; `layers_internal` (and through it the encoders and decoders) and `infogan` use the same
declarations.
"""

from keras_latentquant.suggest import did_you_mean

__all__ = ["ARCHITECTURES", "RETIRED_ARCHITECTURES", "PRIORS", "check_architecture"]

#: The architectures the builders know (see `models.encoders` and `models.decoders`): "paper" (the
#: reference's `image` encoder and `style_image` decoder), "paper_small" (its `image_small` and
#: `style_image_small`) and "fast" (ours: the reference's blocks at a CPU-sized width).
ARCHITECTURES = ("paper", "paper_small", "fast")

#: Architecture names that existed before and what became of them (an old flagfile or config gets this
#: instead of "unknown architecture").
RETIRED_ARCHITECTURES = {
    "small": (
        "architecture 'small' was retired in keras-latentquant 0.2: it was our own CPU variant (no "
        "instance norm in the encoder, an AdaIN decoder block that is not the reference's, glorot "
        "initialisation). Use 'fast' for the same sizes with the reference's blocks and initialisation, "
        "or 'paper_small' for the reference implementation's small model."
    ),
}

#: The latent priors of InfoWGAN-GP (`models.infogan.InfoGAN`): uniform on the value range, or N(0, 1).
PRIORS = ("uniform", "normal")


def check_architecture(architecture):
    """Returns `architecture` if it is one of `ARCHITECTURES`, else raises ValueError."""
    if architecture in RETIRED_ARCHITECTURES:
        raise ValueError(RETIRED_ARCHITECTURES[architecture])
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"`architecture` must be one of {', '.join(repr(a) for a in ARCHITECTURES)}; "
            f"received architecture={architecture!r}.{did_you_mean(architecture, ARCHITECTURES)}"
        )
    return architecture
