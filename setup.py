"""Install keras-latentquant: `pip install -e .` (add `[test]` for the test suite)."""

from setuptools import find_packages, setup

# One set that installs together on Python 3.11 (see the project's stack notes): TensorFlow 2.21 with
# Keras 3.15; tf-keras only because tensorflow-probability imports it.
INSTALL_REQUIRES = [
    "tensorflow==2.21.*",
    "keras==3.15.*",
    "tensorflow-probability==0.25.*",
    "tf-keras==2.21.*",
    "tensorflow-datasets==4.9.*",
    "keras-tuner==1.4.*",
    "absl-py==2.*",
    "scikit-learn==1.9.*",
    "numpy==2.4.*",
    "matplotlib==3.11.*",
    "scipy==1.*",  # imported directly by the metrics (also a scikit-learn dependency)
    "threadpoolctl==3.*",
    "numba==0.68.*",  # compiles DCI's tree split search (metrics/boosted_trees.py)
    "h5py==3.*",  # TFDS's dsprites/shapes3d builders read the release .h5 files (`tfds build`); Keras .weights.h5
    "pillow==13.*",  # reads the real Falcor3D / Isaac3D PNGs
    "tensorboard==2.21.*",
    "flask==3.1.*",  # the latent explorer's web server (keras_latentquant/explore)
    # tensorflow-datasets 4.9.10 imports importlib_resources but declares it only for Python < 3.9.
    "importlib_resources==7.*",
]

setup(
    name="keras-latentquant",
    version="0.2.0",
    description="Disentangled representation learning by latent quantization, in Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["keras_latentquant", "keras_latentquant.*"]),
    install_requires=INSTALL_REQUIRES,
    package_data={"keras_latentquant.explore": ["static/*"]},
    extras_require={
        # jax and torch: the cross-backend tests run the layers under Keras's JAX and PyTorch backends too
        # (torch 2.13.0 is the CPU build on this project's machines; from PyPI it is the CUDA build).
        "test": ["pytest==9.*", "pytest-xdist==3.8.*", "jax==0.10.*", "torch==2.13.0",
                 "tensorflow-serving-api==2.21.*", "playwright==1.65.*"],
        # the gRPC client of TF Serving (keras_latentquant.serving_client.predict_grpc, export/client_grpc.py)
        "serving": ["tensorflow-serving-api==2.21.*"],
        "docs": [],
    },
    license="Apache-2.0",
)
