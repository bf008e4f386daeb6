"""`keras_latentquant.export` and `export/savedmodel.py`: SavedModels for TF Serving equal the Keras model."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant import export
from keras_latentquant.models import build_ae, build_qlae, build_qlinfogan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUM_VALUES = [3, 5, 7, 4]  # uneven on purpose: the range check must be per dimension


def _environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


@pytest.fixture(scope="module")
def qlae():
    keras.utils.set_random_seed(0)
    return build_qlae((64, 64, 1), num_latents=4, num_values=NUM_VALUES, architecture="fast", compile=False)


@pytest.fixture(scope="module")
def exported(qlae, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    written = export.export_models(qlae, str(root), version=3)
    return root, {name: tf.saved_model.load(path) for name, path in written.items()}


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (6, 64, 64, 1)).astype("float32")


def _keras_reference(model, images):
    quantizer = model.get_layer("latent_quantization")
    continuous = model.get_layer("encoder")(images)
    codes = quantizer.encode_codes(continuous)
    quantized = quantizer.decode_codes(codes)
    decoded = tf.sigmoid(model.get_layer("decoder")(quantized))
    return {"continuous": continuous.numpy(), "codes": codes.numpy(), "quantized": quantized.numpy(),
            "images": decoded.numpy()}


def test_layout_and_models_config(exported):
    root, _ = exported
    for name in ("encoder", "decoder"):
        assert (root / name / "3" / "saved_model.pb").is_file()
        assert [p.name for p in (root / name).iterdir()] == ["3"]  # no temporary folder left
    config = (root / "models.config").read_text()
    assert config.startswith("model_config_list {")
    for name in ("encoder", "decoder"):
        assert f'name: "{name}"\n    base_path: "{root}/{name}"\n    model_platform: "tensorflow"' in config


def test_saved_model_outputs_equal_keras(qlae, exported, images):
    _, loaded = exported
    reference = _keras_reference(qlae, images)
    encoded = loaded["encoder"].signatures["serving_default"](images=tf.constant(images))
    assert {k: (v.dtype, tuple(v.shape)) for k, v in encoded.items()} == {
        "continuous": (tf.float32, (6, 4)), "quantized": (tf.float32, (6, 4)), "codes": (tf.int32, (6, 4))}
    np.testing.assert_allclose(encoded["continuous"], reference["continuous"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(encoded["codes"], reference["codes"])
    np.testing.assert_array_equal(encoded["quantized"], reference["quantized"])
    assert np.all(encoded["codes"].numpy() < NUM_VALUES)

    decoded = loaded["decoder"].signatures["serving_default"](codes=encoded["codes"])["images"].numpy()
    assert decoded.shape == (6, 64, 64, 1) and decoded.min() >= 0 and decoded.max() <= 1
    np.testing.assert_allclose(decoded, reference["images"], rtol=0, atol=1e-6)
    from_values = loaded["decoder"].signatures["decode_values"](values=encoded["quantized"])["images"]
    np.testing.assert_allclose(from_values, reference["images"], rtol=0, atol=1e-6)

    pixels = np.round(images * 255).astype("uint8")
    from_uint8 = loaded["encoder"].signatures["encode_uint8"](images=tf.constant(pixels))
    np.testing.assert_allclose(
        from_uint8["continuous"], qlae.get_layer("encoder")(pixels.astype("float32") / 255.0), rtol=0, atol=1e-6)


def test_saved_model_cli_lists_signatures(exported):
    root, _ = exported
    command = [shutil.which("saved_model_cli")] if shutil.which("saved_model_cli") else [
        sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = {}
    for name in ("encoder", "decoder"):
        completed = subprocess.run([*command, "show", "--all", "--dir", str(root / name / "3")],
                                   capture_output=True, text=True, timeout=120, env=_environment())
        assert completed.returncode == 0, completed.stderr[-2000:]
        shown[name] = completed.stdout
    encoder, decoder = shown["encoder"], shown["decoder"]
    assert "signature_def['serving_default']" in encoder and "signature_def['encode_uint8']" in encoder
    assert "inputs['images'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 64, 64, 1)" in encoder
    assert "inputs['images'] tensor_info:\n        dtype: DT_UINT8" in encoder
    for output, dtype in (("continuous", "DT_FLOAT"), ("quantized", "DT_FLOAT"), ("codes", "DT_INT32")):
        assert f"outputs['{output}'] tensor_info:\n        dtype: {dtype}\n        shape: (-1, 4)" in encoder
    assert "signature_def['serving_default']" in decoder and "signature_def['decode_values']" in decoder
    assert "inputs['codes'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, 4)" in decoder
    assert "inputs['values'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 4)" in decoder
    assert "outputs['images'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 64, 64, 1)" in decoder


def test_rest_request_row_and_columnar_formats(qlae, exported, images):
    _, loaded = exported
    signature = loaded["decoder"].signatures["serving_default"]
    codes = [[0, 4, 6, 3], [2, 0, 1, 1]]
    expected = tf.sigmoid(qlae.get_layer("decoder")(
        qlae.get_layer("latent_quantization").decode_codes(np.array(codes)))).numpy()
    requests = {
        "rows": {"signature_name": "serving_default", "instances": codes},
        "named rows": {"instances": [{"codes": row} for row in codes]},
        "columns": {"signature_name": "serving_default", "inputs": {"codes": codes}},
        "bare columns": json.dumps({"inputs": codes}),
    }
    for label, request in requests.items():
        inputs = export.rest_request_to_inputs(request, signature)
        assert inputs["codes"].dtype == tf.int32, label
        outputs = signature(**inputs)
        np.testing.assert_allclose(outputs["images"], expected, rtol=0, atol=1e-6, err_msg=label)

    # Response bodies as TF Serving writes them: one output -> bare values; several -> named.
    rows = export.rest_response(signature(**inputs), row_format=True)
    assert np.asarray(rows["predictions"]).shape == (2, 64, 64, 1)
    encoder = loaded["encoder"].signatures["serving_default"]
    encoded = encoder(**export.rest_request_to_inputs({"instances": images[:2].tolist()}, encoder))
    rows = export.rest_response(encoded, row_format=True)["predictions"]
    assert len(rows) == 2 and set(rows[0]) == {"continuous", "quantized", "codes"} and len(rows[0]["codes"]) == 4
    columns = export.rest_response(encoded, row_format=False)["outputs"]
    assert np.asarray(columns["codes"]).shape == (2, 4)


@pytest.mark.parametrize(
    "request_body, message",
    [
        ({"instances": [[0, 1.5, 0, 0]]}, "input 'codes' is int32: got non-integer numbers"),
        ({"instances": [[0, 1, 0]]}, "input 'codes' must have shape (None, 4) (int32); got shape [1, 3]"),
        ({"inputs": {"values": [[0, 1, 0, 0]]}}, "The signature takes inputs ['codes']; the request gives ['values']"),
        ({"instances": [[0, 1, 0, 0]], "inputs": [[0, 1, 0, 0]]}, 'exactly one of "instances"'),
    ],
)
def test_rest_request_errors_name_the_problem(exported, request_body, message):
    _, loaded = exported
    with pytest.raises(ValueError) as error:
        export.rest_request_to_inputs(request_body, loaded["decoder"].signatures["serving_default"])
    assert message in str(error.value)


@pytest.mark.parametrize(
    "model, signature, inputs, error, message",
    [
        ("decoder", "serving_default", {"codes": tf.constant([[0, 0, 7, 0]])}, tf.errors.InvalidArgumentError,
         "codes out of range: dimension j takes indices 0..n_j-1 with n_j = [3, 5, 7, 4]"),
        ("decoder", "serving_default", {"codes": tf.constant([[-1, 0, 0, 0]])}, tf.errors.InvalidArgumentError,
         "codes out of range"),
        ("decoder", "serving_default", {"codes": tf.constant([[0, 0, 1]])}, tf.errors.InvalidArgumentError,
         "`codes` must be int32 of shape [batch, 4]; got shape] [1 3]"),
        ("decoder", "serving_default", {"codes": tf.constant([[0.0, 0.0, 1.0, 0.0]])},
         tf.errors.InvalidArgumentError, "was expected to be a int32 tensor but is a float tensor"),
        ("decoder", "decode_values", {"values": tf.zeros((2, 5))}, tf.errors.InvalidArgumentError,
         "`values` must be float32 of shape [batch, 4]"),
        ("encoder", "serving_default", {"images": tf.zeros((2, 32, 32, 1))}, tf.errors.InvalidArgumentError,
         "`images` must be float32 of shape [batch, 64, 64, 1]; got shape] [2 32 32"),
        ("encoder", "serving_default", {"images": tf.zeros((64, 64, 1))}, tf.errors.InvalidArgumentError,
         "`images` must be float32 of shape [batch, 64, 64, 1]; got shape] [64 64 1]"),
        ("encoder", "serving_default", {"images": tf.fill((1, 64, 64, 1), 255.0)}, tf.errors.InvalidArgumentError,
         "images out of range: the float32 `images` input takes pixel values in [0, 1]"),
        ("encoder", "serving_default", {"images": tf.fill((1, 64, 64, 1), np.nan)}, tf.errors.InvalidArgumentError,
         "images out of range"),
        ("encoder", "encode_uint8", {"images": tf.zeros((1, 64, 64, 1))}, tf.errors.InvalidArgumentError,
         "was expected to be a uint8 tensor but is a float tensor"),
        ("encoder", "serving_default", {"images": np.zeros((1, 32, 32, 1), "float32")}, TypeError,
         "Can not cast TensorSpec(shape=(1, 32, 32, 1)"),
    ],
    ids=["code too high", "negative code", "codes too narrow", "float codes", "values too wide",
         "small images", "unbatched images", "images 0..255 as float", "nan images", "float to uint8",
         "numpy of wrong shape"],
)
def test_bad_inputs_are_rejected_with_clear_messages(exported, model, signature, inputs, error, message):
    _, loaded = exported
    with pytest.raises(error) as raised:
        loaded[model].signatures[signature](**inputs)
    assert message in str(raised.value)


def test_keras_file_round_trip_then_export(qlae, images, tmp_path):
    path = str(tmp_path / "qlae.keras")
    qlae.save(path)
    reloaded = keras.saving.load_model(path)
    reference = _keras_reference(qlae, images)
    for key, value in _keras_reference(reloaded, images).items():
        np.testing.assert_array_equal(value, reference[key], err_msg=key)
    written = export.export_models(reloaded, str(tmp_path / "exported"))
    encoded = tf.saved_model.load(written["encoder"]).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_array_equal(encoded["codes"], reference["codes"])
    decoded = tf.saved_model.load(written["decoder"]).signatures["serving_default"](codes=encoded["codes"])
    np.testing.assert_allclose(decoded["images"], reference["images"], rtol=0, atol=1e-6)


def test_infogan_exports_encoder_and_generator(images, tmp_path):
    keras.utils.set_random_seed(1)
    gan = build_qlinfogan((64, 64, 1), num_latents=3, architecture="fast", num_values=4, compile=False)
    written = export.export_models(gan, str(tmp_path))
    assert sorted(written) == ["encoder", "generator"]
    assert 'name: "generator"' in (tmp_path / "models.config").read_text()
    encoded = tf.saved_model.load(written["encoder"]).signatures["serving_default"](images=tf.constant(images))
    estimate = gan.critic(images)[:, 1:]
    np.testing.assert_allclose(encoded["continuous"], estimate, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(encoded["codes"], gan.quantizer.encode_codes(estimate))
    generator = tf.saved_model.load(written["generator"])
    generated = generator.signatures["serving_default"](codes=encoded["codes"])["images"]
    np.testing.assert_allclose(generated, gan.generator(gan.quantizer.decode_codes(encoded["codes"])),
                               rtol=0, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"n_j = \[4, 4, 4\]"):
        generator.signatures["serving_default"](codes=tf.constant([[0, 4, 0]]))


def test_autoencoder_without_quantizer_has_no_code_signatures(images, tmp_path):
    keras.utils.set_random_seed(2)
    ae = build_ae((64, 64, 1), num_latents=4, architecture="fast", compile=False)
    written = export.export_models(ae, str(tmp_path))
    encoder = tf.saved_model.load(written["encoder"])
    decoder = tf.saved_model.load(written["decoder"])
    assert sorted(encoder.signatures) == ["encode_uint8", "serving_default"]
    assert sorted(decoder.signatures) == ["serving_default"]
    encoded = encoder.signatures["serving_default"](images=tf.constant(images))
    assert sorted(encoded) == ["continuous", "latents"]
    np.testing.assert_allclose(encoded["latents"], ae.get_layer("encoder")(images), rtol=0, atol=1e-6)
    decoded = decoder.signatures["serving_default"](values=encoded["latents"])["images"]
    np.testing.assert_allclose(decoded, tf.sigmoid(ae(images)), rtol=0, atol=1e-6)


def test_failed_export_leaves_no_version_folder(qlae, tmp_path, monkeypatch):
    save = tf.saved_model.save
    calls = []

    def save_then_fail(module, path, signatures=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        save(module, path, signatures=signatures)

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export.export_models(qlae, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "encoder")) == [] and sorted(os.listdir(tmp_path / "decoder")) == []
    assert not (tmp_path / "models.config").exists()
    with pytest.raises(ValueError, match="version must be a positive integer"):
        export.export_models(qlae, str(tmp_path), version=0)


def test_command_writes_tree_and_refuses_to_overwrite(qlae, tmp_path):
    qlae.save(str(tmp_path / "model.keras"))
    output = tmp_path / "exported"
    command = [sys.executable, os.path.join(ROOT, "export", "savedmodel.py"), f"--model={tmp_path}",
               f"--output={output}", "--version=2"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_environment())
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "as version 2" in completed.stdout and "saved_model.pb" in completed.stdout
    assert "models.config" in completed.stdout
    assert (output / "encoder" / "2" / "saved_model.pb").is_file()
    assert (output / "decoder" / "2" / "variables" / "variables.index").is_file()
    assert 'name: "decoder"' in (output / "models.config").read_text()

    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_environment())
    assert again.returncode != 0
    assert "Version 2 exists already" in again.stderr and "Pass --version" in again.stderr
    assert "or remove it" in again.stderr


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving_command(root, grpc_port, rest_port):
    """The command that serves `root`'s models.config: the binary where it is on PATH, else the tensorflow/serving
    container where Docker runs and has the image; None when neither is here."""
    if shutil.which("tensorflow_model_server"):
        return ["tensorflow_model_server", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                f"--model_config_file={root / 'models.config'}"]
    if shutil.which("docker") and subprocess.run(["docker", "image", "inspect", "tensorflow/serving"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "run", "--rm", "-p", f"{grpc_port}:8500", "-p", f"{rest_port}:8501",
                "-v", f"{root}:{root}", "tensorflow/serving", f"--model_config_file={root / 'models.config'}"]
    return None


def test_tensorflow_serving_answers_both_clients(exported, qlae, images):
    from keras_latentquant import serving_client

    root, _ = exported
    grpc_port, rest_port = _free_port(), _free_port()
    command = _serving_command(root, grpc_port, rest_port)
    if command is None:
        pytest.skip("neither tensorflow_model_server (not a pip package: TF Serving's apt repository) nor Docker "
                    "with the tensorflow/serving image is here")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{rest_port}/v1/models/encoder"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if b"AVAILABLE" in response.read():
                        break
            except OSError:
                time.sleep(0.5)
        reference = _keras_reference(qlae, images[:2])
        body = json.dumps({"signature_name": "serving_default", "instances": images[:2].tolist()}).encode()
        request = urllib.request.Request(f"{url}:predict", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
        np.testing.assert_array_equal([row["codes"] for row in predictions], reference["codes"])
        rest = serving_client.predict_rest(f"http://127.0.0.1:{rest_port}", "decoder", {"codes": reference["codes"]})
        np.testing.assert_allclose(rest["images"], reference["images"], atol=1e-5)
        if importlib.util.find_spec("tensorflow_serving") is not None:
            encoded = serving_client.predict_grpc(f"127.0.0.1:{grpc_port}", "encoder", {"images": images[:2]})
            np.testing.assert_array_equal(encoded["codes"], reference["codes"])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_exported_files_are_readable_by_other_users(tmp_path):
    """Version folders and models.config get the usual permissions (not tempfile's owner-only ones), so a
    TF Serving process running as another user can read them."""
    import stat

    from keras_latentquant.export import export_models
    from keras_latentquant.models import build_qlae

    model = build_qlae((32, 32, 1), num_latents=2, architecture="fast")
    written = export_models(model, str(tmp_path / "out"))
    for path in [*written.values(), str(tmp_path / "out" / "models.config")]:
        mode = os.stat(path).st_mode
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH, (path, oct(mode))


def _unfinished_run(folder, iterations=1000):
    """A run folder as a trainer leaves it mid-run: config.json, evaluations.jsonl and the checkpoint only."""
    keras.utils.set_random_seed(0)
    model = build_qlae((64, 64, 1), num_latents=4, num_values=NUM_VALUES, architecture="fast")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(iterations)
    (folder / "checkpoints").mkdir(parents=True)
    model.save(str(folder / "checkpoints" / "latest.keras"))
    (folder / "config.json").write_text(json.dumps({"model": "qlae", "steps": 3000}))
    (folder / "evaluations.jsonl").write_text(json.dumps({"step": iterations}) + "\n")
    return model


def test_command_refuses_an_unfinished_run_unless_allowed(tmp_path):
    from keras_latentquant.folder_lock import folder_lock

    run = tmp_path / "run"
    # Started, locked by its trainer, no checkpoint yet.
    (run).mkdir()
    (run / "config.json").write_text(json.dumps({"model": "qlae", "steps": 3000}))
    young = subprocess.run([sys.executable, os.path.join(ROOT, "export", "savedmodel.py"), f"--model={run}",
                            f"--output={tmp_path / 'exported'}"], capture_output=True, text=True, timeout=300,
                           env=_environment())
    assert young.returncode != 0 and "is unfinished: it has no model.keras" in young.stderr
    assert "no checkpoint to export yet" in young.stderr and "Traceback" not in young.stderr
    os.remove(run / "config.json")
    os.rmdir(run)
    _unfinished_run(run)
    output = tmp_path / "exported"
    command = [sys.executable, os.path.join(ROOT, "export", "savedmodel.py"), f"--model={run}", f"--output={output}"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_environment())
    assert refused.returncode != 0 and not output.exists()
    for fragment in ("is unfinished", "no model.keras", "config.json asks for 3000 steps",
                     "checkpoint were at step 1000", "--allow_unfinished"):
        assert fragment in refused.stderr, (fragment, refused.stderr[-2000:])

    # A trainer continuing a finished run: model.keras exists, but the folder is locked by the trainer.
    shutil.copy(run / "checkpoints" / "latest.keras", run / "model.keras")
    with folder_lock(str(run), "training qlae"):
        running = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_environment())
    assert running.returncode != 0
    assert "a trainer is still running in it" in running.stderr and f"pid {os.getpid()}" in running.stderr
    assert "earlier end of the run" in running.stderr
    os.remove(run / "model.keras")

    allowed = subprocess.run(command + ["--allow_unfinished"], capture_output=True, text=True, timeout=300,
                             env=_environment())
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert "warning: exporting an unfinished run" in allowed.stdout
    assert "checkpoints/latest.keras (at step 1000;" in allowed.stdout
    assert (output / "encoder" / "1" / "saved_model.pb").is_file() and not (output / ".lock").exists()


def test_command_refuses_an_export_root_in_use(qlae, tmp_path):
    from keras_latentquant.folder_lock import folder_lock

    qlae.save(str(tmp_path / "model.keras"))
    output = tmp_path / "exported"
    command = [sys.executable, os.path.join(ROOT, "export", "savedmodel.py"), f"--model={tmp_path}",
               f"--output={output}"]
    with folder_lock(str(output), "exporting another model"):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_environment())
    assert completed.returncode != 0
    assert "is in use by another process" in completed.stderr and "exporting another model since" in completed.stderr
    assert not (output / "encoder").exists()


# ------------------------------------------------------------------ clients (keras_latentquant.serving_client)
class _FakeServing:
    """What TF Serving does with the exported models, behind its REST and gRPC interfaces (no server binary
    here): the REST side runs the request through `export.rest_request_to_inputs`/`rest_response`, the gRPC side
    through TensorProtos, both on the loaded SavedModels."""

    def __init__(self, loaded):
        self.loaded = loaded

    def run(self, model, signature, inputs):
        return {name: value.numpy() for name, value in self.loaded[model].signatures[signature](**inputs).items()}


def _rest_server(fake):
    import http.server
    import re
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            model = re.match(r"/v1/models/(\w+)(?:/versions/\d+)?/metadata$", self.path).group(1)
            signatures = {name: {"outputs": {key: {} for key in function.structured_outputs}}
                          for name, function in fake.loaded[model].signatures.items()}
            self._answer(200, {"metadata": {"signature_def": {"signature_def": signatures}}})

        def do_POST(self):
            model = re.match(r"/v1/models/(\w+)(?:/versions/\d+)?:predict$", self.path).group(1)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = fake.loaded[model].signatures[body.get("signature_name", "serving_default")]
            try:
                inputs = export.rest_request_to_inputs(body, signature)
                outputs = {name: value.numpy() for name, value in signature(**inputs).items()}
            except (ValueError, tf.errors.InvalidArgumentError) as error:
                self._answer(400, {"error": str(error)})
                return
            self._answer(200, export.rest_response(outputs, row_format="instances" in body))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _grpc_server(fake):
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            try:
                outputs = fake.run(request.model_spec.name, request.model_spec.signature_name or "serving_default",
                                   inputs)
            except (ValueError, tf.errors.InvalidArgumentError) as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_clients_round_trip_through_serving(transport, exported, qlae, images):
    from keras_latentquant import serving_client

    if transport == "grpc":
        pytest.importorskip("tensorflow_serving.apis", reason="the gRPC client needs tensorflow-serving-api")
    _, loaded = exported
    fake = _FakeServing(loaded)
    if transport == "rest":
        server = _rest_server(fake)
        address, predict, stop = f"http://127.0.0.1:{server.server_address[1]}", serving_client.predict_rest, server.shutdown
    else:
        server, address = _grpc_server(fake)
        predict, stop = serving_client.predict_grpc, lambda: server.stop(None)
    try:
        encoded = predict(address, "encoder", {"images": images})
        decoded = predict(address, "decoder", {"codes": encoded["codes"]})
        uint8 = predict(address, "encoder", {"images": np.round(images * 255).astype("uint8")}, signature="encode_uint8")
        with pytest.raises(serving_client.ServingError, match="codes out of range"):
            predict(address, "decoder", {"codes": np.full((1, 4), 9, dtype="int32")})
    finally:
        stop()
    reference = _keras_reference(qlae, images)
    assert set(encoded) == {"continuous", "quantized", "codes"} and set(decoded) == {"images"}
    np.testing.assert_array_equal(encoded["codes"], reference["codes"])
    np.testing.assert_allclose(encoded["continuous"], reference["continuous"], atol=1e-5)
    np.testing.assert_allclose(decoded["images"], reference["images"], atol=1e-5)
    assert uint8["codes"].shape == reference["codes"].shape


def test_rest_client_without_a_server_says_so():
    from keras_latentquant import serving_client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(serving_client.ServingError, match=f"No TF Serving REST API at http://127.0.0.1:{port}"):
        serving_client.predict_rest(f"http://127.0.0.1:{port}", "encoder", {"images": np.zeros((1, 64, 64, 1))})
