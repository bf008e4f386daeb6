"""The latent explorer's web application (Flask): the page, what it needs to know of the model, and a decoder
endpoint that speaks TF Serving's REST predict format.

Routes:

- `GET /`: the page (`static/index.html`, `static/explorer.js`).
- `GET /api/model`: what the page draws: the kind of latents (`codes`: integer indices into each latent's
  codebook; `values`: continuous), each latent's slider values (a codebook's values, or a range from encoded
  samples), each latent's best-matching factor (from the model's evaluation NMI), the NMI matrix, and
  encoded dataset samples (their images and latents) for "reset to a dataset image".
- `POST /v1/models/<decoder|generator>:predict`: TF Serving's REST predict (`{"instances": ...}` rows or
  `{"inputs": ...}` columns, optional `"signature_name"`), answered as TF Serving answers it. It runs the same
  serving module `export/savedmodel.py` saves (`export.build_serving_modules`), so its checks are the exported
  model's: codes out of range, wrong shapes or dtypes give HTTP 400 with the message. With `serving_url`, the
  request is forwarded to a real TF Serving instead (the page then shows what that server answers).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np
import tensorflow as tf
from flask import Flask, Response, jsonify, request, send_from_directory

from keras_latentquant import export
from keras_latentquant.model_files import model_image_shape

__all__ = ["ExplorerModel", "create_app", "find_evaluation"]

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# Continuous latents: slider positions across the encoded samples' range.
_CONTINUOUS_STEPS = 21


class ExplorerModel:
    """What the explorer serves for one model: its serving signatures (as `export/savedmodel.py` saves them),
    its codebook and the page's data. Made by `from_keras` (a trained Keras model) or `from_export` (a folder
    that `export/savedmodel.py` wrote).

    Args:
        encoder_signatures: `{name: function}` of the encoder (images -> codes or latents).
        decoder_name: `decoder` or `generator`.
        decoder_signatures: `{name: function}` of the decoder (codes or values -> images).
        image_shape: `(H, W, C)`.
        codebook: `(num_latents, max values)` codebook values and `counts`, the values of each latent (None for a
            model with continuous latents).
        images: float32 `(N, H, W, C)` dataset images in [0, 1] to offer as starting points (may be empty).
        nmi: the model's `(num_factors, num_latents)` NMI matrix from its evaluation, or None.
        factor_names: the dataset's factor names (rows of `nmi`), or None.
    """

    def __init__(self, encoder_signatures, decoder_name, decoder_signatures, image_shape, codebook=None, counts=None,
                 images=None, nmi=None, factor_names=None):
        self.encoder_signatures, self.decoder_name = encoder_signatures, decoder_name
        self.decoder_signatures = decoder_signatures
        self.kind = "codes" if codebook is not None else "values"
        self.image_shape = [int(size) for size in image_shape]
        self.codebook, self.counts = codebook, counts
        self.attach(images, nmi, factor_names)

    def attach(self, images=None, nmi=None, factor_names=None) -> "ExplorerModel":
        """Sets the dataset images offered as starting points (encoded here) and the evaluation shown beside
        the sliders, replacing earlier ones; the serving signatures are kept. Returns self."""
        images = np.zeros((0, *self.image_shape), "float32") if images is None else np.asarray(images)
        self.images = images.astype("float32")
        latent_key = "codes" if self.kind == "codes" else "latents"
        if len(self.images):
            encoded = self.encoder_signatures["serving_default"](images=tf.constant(self.images))
            self.samples = encoded[latent_key].numpy()
        else:
            self.samples = None
        if self.kind == "codes":
            self.slider_values = [np.asarray(self.codebook)[j, :int(self.counts[j])].tolist()
                                  for j in range(len(self.counts))]
        else:
            (spec,) = export._input_specs(self.decoder_signatures["serving_default"]).values()
            num_latents = int(spec.shape[-1])
            if self.samples is not None and len(self.samples) > 1:
                low, high = self.samples.min(axis=0), self.samples.max(axis=0)
            else:
                low, high = np.full(num_latents, -3.0), np.full(num_latents, 3.0)
            self.slider_values = [np.linspace(lo, hi, _CONTINUOUS_STEPS).tolist() for lo, hi in zip(low, high)]
        self.nmi = None if nmi is None else np.asarray(nmi, dtype="float64")
        self.factor_names = list(factor_names) if factor_names is not None else None
        return self

    @classmethod
    def from_keras(cls, model, images=None, nmi=None, factor_names=None) -> "ExplorerModel":
        """The explorer of a Keras autoencoder or InfoGAN of `keras_latentquant.models`."""
        (_, (_, encoder_signatures)), (decoder_name, (decoder, decoder_signatures)) = (
            export.build_serving_modules(model).items())
        codebook = counts = None
        if decoder.quantizer is not None:
            codebook, counts = decoder.quantizer.codebook_values(), decoder.quantizer.values_per_dimension
        return cls(encoder_signatures, decoder_name, decoder_signatures, model_image_shape(model), codebook, counts,
                   images=images, nmi=nmi, factor_names=factor_names)

    @classmethod
    def from_export(cls, folder: str, images=None, nmi=None, factor_names=None) -> "ExplorerModel":
        """The explorer of the SavedModels in `folder` (`encoder/N/` and `decoder/N/` or `generator/N/`, the
        highest version of each)."""
        def newest(name):
            base = os.path.join(folder, name)
            versions = sorted(int(entry) for entry in os.listdir(base) if entry.isdigit()) if os.path.isdir(base) else []
            return tf.saved_model.load(os.path.join(base, str(versions[-1]))) if versions else None

        encoder = newest("encoder")
        decoder_name = "decoder" if os.path.isdir(os.path.join(folder, "decoder")) else "generator"
        decoder = newest(decoder_name)
        if encoder is None or decoder is None:
            raise FileNotFoundError(
                f"{folder!r} holds no export: expected encoder/<version>/ and decoder/<version>/ (or generator/) as "
                "export/savedmodel.py writes them.")
        codebook = counts = None
        if "decode_values" in decoder.signatures:
            if not hasattr(decoder, "codebook"):
                raise ValueError(
                    f"The export in {folder!r} does not record its codebook (exported by an earlier version); "
                    "export the run again with export/savedmodel.py, or pass the run folder.")
            codebook, counts = decoder.codebook.numpy(), decoder.values_per_dimension.numpy()
        (spec,) = export._input_specs(encoder.signatures["serving_default"]).values()
        return cls(dict(encoder.signatures), decoder_name, dict(decoder.signatures), spec.shape[1:], codebook, counts,
                   images=images, nmi=nmi, factor_names=factor_names)

    @property
    def num_latents(self) -> int:
        return len(self.slider_values)

    def latent_labels(self) -> list[dict | None]:
        """Per latent: the factor it shares most information with and that NMI, or None without an evaluation."""
        if self.nmi is None or self.factor_names is None or self.nmi.shape[1] != self.num_latents:
            return [None] * self.num_latents
        best = self.nmi.argmax(axis=0)
        return [{"factor": self.factor_names[i], "nmi": round(float(self.nmi[i, j]), 3)} for j, i in enumerate(best)]

    def description(self) -> dict:
        """The JSON `GET /api/model` answers."""
        return {
            "kind": self.kind,
            "decoder": self.decoder_name,
            "image_shape": self.image_shape,
            "num_latents": self.num_latents,
            "slider_values": self.slider_values,
            "labels": self.latent_labels(),
            "factor_names": self.factor_names,
            "nmi": None if self.nmi is None else np.round(self.nmi, 4).tolist(),
            "samples": [] if self.samples is None else [
                {"latents": self.samples[i].tolist(), "image": np.round(self.images[i], 3).tolist()}
                for i in range(len(self.samples))
            ],
        }

    def predict(self, name: str, body) -> tuple[int, dict]:
        """TF Serving's answer (status, JSON) to a REST predict request for model `name`."""
        if name != self.decoder_name:
            return 404, {"error": f"Servable not found: this explorer serves {self.decoder_name!r}, not {name!r}."}
        if not isinstance(body, dict):
            return 400, {"error": "The body must be a JSON object: {\"instances\": [...]} or {\"inputs\": ...}."}
        signature_name = body.get("signature_name", "serving_default")
        signature = self.decoder_signatures.get(signature_name)
        if signature is None:
            return 400, {"error": f"Unknown signature_name {signature_name!r}; this decoder has "
                                  f"{sorted(self.decoder_signatures)}."}
        try:
            inputs = export.rest_request_to_inputs(body, signature)
            outputs = {key: value.numpy() for key, value in signature(**inputs).items()}
        except ValueError as error:
            return 400, {"error": str(error)}
        except tf.errors.InvalidArgumentError as error:
            return 400, {"error": _assertion_message(error)}
        return 200, export.rest_response(outputs, row_format="instances" in body)


def find_evaluation(model_path: str) -> tuple[list | None, list | None]:
    """(NMI matrix, factor names) of the model's latest evaluation in its run folder, or (None, None)."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for run in (folder, os.path.dirname(folder)):
        for path, read in ((os.path.join(run, "evaluation", "evaluation.json"), lambda d: d),
                           (os.path.join(run, "metrics.json"), lambda d: d.get("final", {}) | {
                               "factor_names": d.get("factor_names")})):
            try:
                with open(path, encoding="utf-8") as handle:
                    found = read(json.load(handle))
            except (OSError, ValueError, AttributeError):
                continue
            if found.get("nmi") and found.get("factor_names"):
                return found["nmi"], found["factor_names"]
    return None, None


def _assertion_message(error: tf.errors.InvalidArgumentError) -> str:
    """The line of a graph error that says what was wrong with the input (the serving modules' assertions)."""
    lines = [line.strip() for line in str(error.message).splitlines() if line.strip()]
    for line in lines:
        if "out of range" in line or "must be" in line:
            return line
    return lines[-1] if lines else "invalid input"


def create_app(explorer: ExplorerModel, serving_url: str | None = None) -> Flask:
    """The Flask application of `explorer`; with `serving_url`, predictions come from that TF Serving."""
    app = Flask(__name__, static_folder=None)

    @app.get("/")
    def page():
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name):
        return send_from_directory(STATIC, name)

    @app.get("/api/model")
    def model_description():
        return jsonify(explorer.description() | {"serving_url": serving_url})

    @app.post("/v1/models/<name>:predict")
    def predict(name):
        body = request.get_json(silent=True)
        if body is None:
            return jsonify({"error": "The body is not JSON (send Content-Type: application/json)."}), 400
        if serving_url:
            return _forward(f"{serving_url.rstrip('/')}/v1/models/{name}:predict", body)
        status, answer = explorer.predict(name, body)
        return jsonify(answer), status

    return app


def _forward(url: str, body: dict) -> Response:
    forwarded = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(forwarded, timeout=60) as answer:
            return Response(answer.read(), status=answer.status, mimetype="application/json")
    except urllib.error.HTTPError as error:
        return Response(error.read(), status=error.code, mimetype="application/json")
    except urllib.error.URLError as error:
        return Response(json.dumps({"error": f"TF Serving at {url} did not answer ({error.reason})."}), status=502,
                        mimetype="application/json")
