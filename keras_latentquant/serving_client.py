"""Clients of TF Serving for the SavedModels `export/savedmodel.py` writes: REST (JSON) and gRPC.

Both send a signature's named inputs and return its named outputs as NumPy arrays:

    from keras_latentquant import serving_client
    outputs = serving_client.predict_rest("http://localhost:8501", "encoder", {"images": images})
    outputs["codes"]                        # int32 (N, d)
    images = serving_client.predict_grpc("localhost:8500", "decoder", {"codes": outputs["codes"]})["images"]

`predict_rest` needs only NumPy and the standard library (columnar JSON format, `export/README.md` lists
the bodies). `predict_grpc` needs `tensorflow-serving-api` (the `serving` extra: `pip install -e .[serving]`),
which brings the service's generated stubs; tensors travel as `TensorProto`s. `export/client_rest.py` and
`export/client_grpc.py` are the command-line examples. A server error (bad codes, images outside [0, 1], an
unknown model) raises `ServingError` with the server's message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

import numpy as np

__all__ = ["ServingError", "predict_grpc", "predict_rest"]


class ServingError(RuntimeError):
    """TF Serving answered a request with an error (its message included), or could not be reached."""


def _model_path(model: str, version: int | None) -> str:
    return f"/v1/models/{model}" + (f"/versions/{int(version)}" if version is not None else "")


def predict_rest(
    server: str,
    model: str,
    inputs: Mapping[str, np.ndarray],
    signature: str = "serving_default",
    version: int | None = None,
    timeout: float = 60.0,
) -> dict[str, np.ndarray]:
    """`POST <server>/v1/models/<model>[/versions/<version>]:predict` in the columnar format.

    Args:
        server: the REST address, e.g. `"http://localhost:8501"` (`--rest_api_port`).
        model: the model's name in `models.config` (`encoder`, `decoder`, `generator`).
        inputs: the signature's inputs by name, each with a leading batch axis.
        signature: the signature's name (`serving_default`, `encode_uint8`, `decode_values`).
        version: a version other than the highest one the server has.
        timeout: seconds to wait for the answer.

    Returns:
        The signature's outputs by name, as NumPy arrays (ints stay ints).

    Raises:
        ServingError: an error answer (with TF Serving's message) or no answer.
    """
    body = {"signature_name": signature, "inputs": {name: np.asarray(value).tolist() for name, value in inputs.items()}}
    request = urllib.request.Request(
        f"{server.rstrip('/')}{_model_path(model, version)}:predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = error.read().decode(errors="replace")
        try:
            message = json.loads(message).get("error", message)
        except ValueError:
            pass
        raise ServingError(f"{model}/{signature}: HTTP {error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise ServingError(f"No TF Serving REST API at {server} ({error.reason}); start the server (export/README.md) "
                           "or pass its address.") from None
    outputs = answer["outputs"]
    if not isinstance(outputs, dict):  # a signature with one output answers its bare value: name it
        (name,) = _output_names(server, model, signature, version, timeout)
        outputs = {name: outputs}
    return {name: np.asarray(value) for name, value in outputs.items()}


def _output_names(server: str, model: str, signature: str, version: int | None, timeout: float) -> list[str]:
    """A signature's output names, from `GET /v1/models/<model>/metadata`."""
    url = f"{server.rstrip('/')}{_model_path(model, version)}/metadata"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        metadata = json.loads(response.read())
    return sorted(metadata["metadata"]["signature_def"]["signature_def"][signature]["outputs"])


def predict_grpc(
    server: str,
    model: str,
    inputs: Mapping[str, np.ndarray],
    signature: str = "serving_default",
    version: int | None = None,
    timeout: float = 60.0,
) -> dict[str, np.ndarray]:
    """TF Serving's `PredictionService/Predict` over gRPC.

    Args:
        server: the gRPC address, e.g. `"localhost:8500"` (`--port`).
        model, inputs, signature, version, timeout: as `predict_rest`. Inputs are sent with their NumPy
            dtypes (the signatures take float32 images and values, int32 codes, uint8 images).

    Returns:
        The signature's outputs by name, as NumPy arrays.

    Raises:
        ServingError: an error status (with TF Serving's message), or no server.
        ImportError: `tensorflow-serving-api` is not installed.
    """
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    with grpc.insecure_channel(server) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ServingError(f"{model}/{signature} at {server}: {error.code().name}: {error.details()}") from None
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
