"""The latent explorer's server (keras_latentquant/explore): its decoder endpoint equals the Keras decoder, bad
requests get HTTP 400 with the reason, and the page's model description is right."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.explore.server import ExplorerModel, create_app, find_evaluation
from keras_latentquant.models import build_ae, build_qlae, build_qlinfogan

NUM_VALUES = [3, 5, 7, 4]  # uneven: the sliders and the range check are per latent
IMAGE_SHAPE = (64, 64, 1)


@pytest.fixture(scope="module")
def qlae():
    keras.utils.set_random_seed(0)
    return build_qlae(IMAGE_SHAPE, num_latents=4, num_values=NUM_VALUES, architecture="fast", compile=False)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (5,) + IMAGE_SHAPE).astype("float32")


@pytest.fixture(scope="module")
def client(qlae, images):
    nmi = np.array([[0.9, 0.1, 0.0, 0.2], [0.1, 0.05, 0.7, 0.3]])
    explorer = ExplorerModel.from_keras(qlae, images=images, nmi=nmi, factor_names=["shape", "scale"])
    return create_app(explorer).test_client()


def _keras_images(model, codes):
    quantizer = model.get_layer("latent_quantization")
    return tf.sigmoid(model.get_layer("decoder")(quantizer.decode_codes(codes))).numpy()


def test_description_has_codebook_sliders_labels_and_encoded_samples(client, qlae, images):
    description = client.get("/api/model").get_json()
    assert description["kind"] == "codes" and description["decoder"] == "decoder"
    assert description["image_shape"] == list(IMAGE_SHAPE) and description["num_latents"] == 4
    codebook = qlae.get_layer("latent_quantization").codebook_values()
    assert [len(values) for values in description["slider_values"]] == NUM_VALUES
    for j, values in enumerate(description["slider_values"]):
        np.testing.assert_allclose(values, codebook[j, :NUM_VALUES[j]], rtol=1e-6)
    # Each latent's best factor by NMI: z0 shape, z1 shape, z2 scale, z3 scale.
    assert [label["factor"] for label in description["labels"]] == ["shape", "shape", "scale", "scale"]
    assert description["labels"][2]["nmi"] == 0.7
    expected_codes = qlae.get_layer("latent_quantization").encode_codes(qlae.get_layer("encoder")(images)).numpy()
    assert [sample["latents"] for sample in description["samples"]] == expected_codes.tolist()


@pytest.mark.parametrize("row_format", [True, False])
def test_decoder_endpoint_equals_the_keras_decoder(client, qlae, row_format):
    codes = np.array([[0, 4, 6, 3], [2, 0, 1, 0]], dtype="int32")
    body = {"instances": codes.tolist()} if row_format else {"inputs": {"codes": codes.tolist()}}
    answer = client.post("/v1/models/decoder:predict", json=body)
    assert answer.status_code == 200
    images = np.array(answer.get_json()["predictions" if row_format else "outputs"], dtype="float32")
    np.testing.assert_allclose(images, _keras_images(qlae, codes), atol=1e-6)
    # Codebook values through the second signature, as TF Serving's decode_values.
    values = qlae.get_layer("latent_quantization").decode_codes(codes).numpy()
    answer = client.post("/v1/models/decoder:predict", json={"signature_name": "decode_values",
                                                             "instances": values.tolist()})
    np.testing.assert_allclose(np.array(answer.get_json()["predictions"]), _keras_images(qlae, codes), atol=1e-5)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"instances": [[0, 5, 0, 0]]}, 400, "codes out of range"),  # latent 1 has 5 values: 0..4
        ({"instances": [[0, 1, 2]]}, 400, "must have shape (None, 4)"),
        ({"instances": [[0.5, 1, 2, 0]]}, 400, "int32"),
        ({"rows": []}, 400, 'exactly one of "instances"'),
        ({"instances": [[0, 0, 0, 0]], "signature_name": "nope"}, 400, "Unknown signature_name 'nope'"),
        ("not json", 400, "The body is not JSON"),
    ],
    ids=["code out of range", "wrong width", "fractional code", "no instances", "unknown signature", "bad JSON"],
)
def test_bad_requests_get_400_with_the_reason(client, body, status, message):
    if isinstance(body, str):
        answer = client.post("/v1/models/decoder:predict", data=body, content_type="application/json")
    else:
        answer = client.post("/v1/models/decoder:predict", json=body)
    assert answer.status_code == status
    assert message in answer.get_json()["error"], answer.get_json()


def test_unknown_model_is_404_and_the_page_is_served(client):
    answer = client.post("/v1/models/encoder:predict", json={"instances": [[0, 0, 0, 0]]})
    assert answer.status_code == 404 and "serves 'decoder'" in answer.get_json()["error"]
    page = client.get("/")
    assert page.status_code == 200 and b"explorer.js" in page.data
    assert b"/v1/models/" in client.get("/static/explorer.js").data


def test_continuous_and_gan_models(images):
    keras.utils.set_random_seed(0)
    ae = build_ae(IMAGE_SHAPE, num_latents=3, architecture="fast", compile=False)
    # Without images a continuous latent's slider spans -3..3; attaching images (as the command does once the
    # model's image shape is known) encodes them and spans their range, keeping the traced signatures.
    explorer = ExplorerModel.from_keras(ae)
    assert explorer.samples is None and all(values[0] == -3.0 and values[-1] == 3.0
                                            for values in explorer.slider_values)
    signatures = explorer.decoder_signatures
    assert explorer.attach(images=images) is explorer and explorer.decoder_signatures is signatures
    description = create_app(explorer).test_client().get("/api/model").get_json()
    latents = ae.get_layer("encoder")(images).numpy()
    assert description["kind"] == "values" and description["labels"] == [None, None, None]
    np.testing.assert_allclose([values[0] for values in description["slider_values"]], latents.min(axis=0), rtol=1e-5)
    np.testing.assert_allclose([values[-1] for values in description["slider_values"]], latents.max(axis=0), rtol=1e-5)
    gan = build_qlinfogan(IMAGE_SHAPE, num_latents=3, architecture="fast", num_values=4, compile=False)
    client = create_app(ExplorerModel.from_keras(gan)).test_client()
    assert client.get("/api/model").get_json()["decoder"] == "generator"
    answer = client.post("/v1/models/generator:predict", json={"instances": [[0, 1, 3]]})
    codes = np.array([[0, 1, 3]], dtype="int32")
    expected = gan.generator(gan.quantizer.decode_codes(codes)).numpy()
    np.testing.assert_allclose(np.array(answer.get_json()["predictions"]), expected, atol=1e-6)


def test_evaluation_is_found_in_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"final": {"nmi": [[0.5, 0.1]]}, "factor_names": ["shape"]}))
    assert find_evaluation(str(run / "checkpoints" / "latest.keras")) == ([[0.5, 0.1]], ["shape"])
    (run / "evaluation").mkdir()
    (run / "evaluation" / "evaluation.json").write_text(json.dumps({"nmi": [[0.2, 0.8]], "factor_names": ["x"]}))
    assert find_evaluation(str(run / "model.keras")) == ([[0.2, 0.8]], ["x"])
    assert find_evaluation(str(tmp_path / "elsewhere.keras")) == (None, None)


def test_serving_url_forwards_predictions_to_tf_serving(qlae, client):
    # A second explorer stands in for TF Serving (the same REST predict contract); the page's server forwards to it.
    import threading

    from werkzeug.serving import make_server

    upstream = make_server("127.0.0.1", 0, create_app(ExplorerModel.from_keras(qlae)), threaded=True)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        forwarding = create_app(ExplorerModel.from_keras(qlae), serving_url=f"http://127.0.0.1:{upstream.server_port}")
        forwarding = forwarding.test_client()
        assert forwarding.get("/api/model").get_json()["serving_url"].startswith("http://127.0.0.1:")
        codes = [[1, 2, 3, 0]]
        answer = forwarding.post("/v1/models/decoder:predict", json={"instances": codes})
        assert answer.status_code == 200
        np.testing.assert_allclose(answer.get_json()["predictions"], _keras_images(qlae, np.array(codes, "int32")),
                                   atol=1e-6)
        bad = forwarding.post("/v1/models/decoder:predict", json={"instances": [[9, 9, 9, 9]]})
        assert bad.status_code == 400 and "codes out of range" in bad.get_json()["error"]
    finally:
        upstream.shutdown()
    gone = create_app(ExplorerModel.from_keras(qlae), serving_url=f"http://127.0.0.1:{upstream.server_port}").test_client()
    answer = gone.post("/v1/models/decoder:predict", json={"instances": [[0, 0, 0, 0]]})
    assert answer.status_code == 502 and "did not answer" in answer.get_json()["error"]


def test_an_export_folder_serves_like_its_keras_model(qlae, images, tmp_path):
    from keras_latentquant import export

    export.export_models(qlae, str(tmp_path / "exported"), version=2)
    from_export = ExplorerModel.from_export(str(tmp_path / "exported"), images=images)
    from_keras = ExplorerModel.from_keras(qlae, images=images)
    assert from_export.description() == from_keras.description()
    codes = [[2, 4, 6, 3]]
    answers = [create_app(explorer).test_client().post("/v1/models/decoder:predict", json={"instances": codes})
               for explorer in (from_export, from_keras)]
    np.testing.assert_allclose(answers[0].get_json()["predictions"], answers[1].get_json()["predictions"], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="holds no export"):
        ExplorerModel.from_export(str(tmp_path))
