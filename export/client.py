"""Round trip through a running TF Serving: images -> codes (encoder) -> images (decoder), over REST or gRPC.

Start the server on an export (`python export/savedmodel.py --model=RUN --output=DIR`), e.g. with its container:

    docker run --rm -p 8500:8500 -p 8501:8501 -v "$PWD/DIR:/models" tensorflow/serving \
        --model_config_file=/models/models.config

then

    python export/client.py --transport=rest --server=http://localhost:8501
    python export/client.py --transport=grpc --server=localhost:8500     # needs pip install -e .[serving]

It sends `--num_images` procedural dSprites images (or the `(N, H, W, C)` float32 array in `--images`, a .npy
file), prints each one's codes and the reconstruction error, and writes the originals above their
reconstructions to `--output` (PNG).
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

F = flags.FLAGS
flags.DEFINE_enum("transport", "rest", ["rest", "grpc"], "REST (JSON, port 8501) or gRPC (port 8500).")
flags.DEFINE_string("server", None, "Server address; default http://localhost:8501 (rest) or localhost:8500 (grpc).")
flags.DEFINE_string("images", None, "A .npy file of float32 images (N, H, W, C) in [0, 1]; default: procedural dSprites.")
flags.DEFINE_integer("num_images", 4, "Procedural dSprites images to send when --images is not given.")
flags.DEFINE_integer("seed", 0, "Which procedural images.")
flags.DEFINE_string("output", "serving_round_trip.png", "PNG of the originals (top) and reconstructions (bottom).")


def round_trip(predict, server, images):
    """(codes, reconstructions) of `images` from the served encoder and decoder."""
    encoded = predict(server, "encoder", {"images": images})
    if "codes" not in encoded:  # a model without LatentQuantization serves values, not codes
        return None, predict(server, "decoder", {"values": encoded["latents"]})["images"]
    return encoded["codes"], predict(server, "decoder", {"codes": encoded["codes"]})["images"]


def _procedural_images(count, seed):
    import numpy as np

    from keras_latentquant.datasets import dsprites_render

    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, size, count) for size in dsprites_render.FACTOR_SIZES], axis=1)
    return dsprites_render.render_dsprites(factors).astype("float32") / 255.0


def main(argv):
    del argv
    import numpy as np

    import matplotlib.pyplot as plt

    from keras_latentquant import serving_client
    from keras_latentquant.plotting import image_montage

    predict = serving_client.predict_rest if F.transport == "rest" else serving_client.predict_grpc
    server = F.server or ("http://localhost:8501" if F.transport == "rest" else "localhost:8500")
    images = np.load(F.images).astype("float32") if F.images else _procedural_images(F.num_images, F.seed)
    try:
        codes, reconstructions = round_trip(predict, server, images)
    except serving_client.ServingError as error:
        raise SystemExit(f"error: {error}") from None
    for index in range(len(images)):
        error = float(np.mean(np.square(reconstructions[index] - images[index])))
        shown = "" if codes is None else f"codes {codes[index].tolist()}  "
        print(f"image {index}: {shown}reconstruction MSE {error:.4f}")
    montage = image_montage(np.stack([images, np.asarray(reconstructions, "float32")]))
    plt.imsave(F.output, montage[..., 0] if montage.shape[-1] == 1 else montage, cmap="gray", vmin=0.0, vmax=1.0)
    print(f"wrote {F.output}")


if __name__ == "__main__":
    app.run(main)
