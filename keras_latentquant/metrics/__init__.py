"""Disentanglement and reconstruction metrics: pure NumPy / scikit-learn functions."""

from keras_latentquant.metrics.infomec import InfoMECResult
from keras_latentquant.metrics.infomec import active_latents
from keras_latentquant.metrics.infomec import compute_infoc
from keras_latentquant.metrics.infomec import compute_infoe
from keras_latentquant.metrics.infomec import compute_infom
from keras_latentquant.metrics.infomec import compute_infomec
from keras_latentquant.metrics.infomec import nmi_matrix
from keras_latentquant.metrics.reconstruction import per_image_psnr
from keras_latentquant.metrics.reconstruction import psnr

__all__ = [
    "InfoMECResult",
    "active_latents",
    "compute_infoc",
    "compute_infoe",
    "compute_infom",
    "compute_infomec",
    "nmi_matrix",
    "per_image_psnr",
    "psnr",
]
