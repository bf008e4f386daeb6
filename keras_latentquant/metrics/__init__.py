"""Disentanglement and reconstruction metrics: pure NumPy / scikit-learn functions."""

from keras_latentquant.metrics.dci import DCIResult
from keras_latentquant.metrics.dci import compute_dci
from keras_latentquant.metrics.dci import dci_from_importance
from keras_latentquant.metrics.infomec import InfoMECResult
from keras_latentquant.metrics.infomec import active_latents
from keras_latentquant.metrics.infomec import compute_infoc
from keras_latentquant.metrics.infomec import compute_infoe
from keras_latentquant.metrics.infomec import compute_infom
from keras_latentquant.metrics.infomec import compute_infomec
from keras_latentquant.metrics.infomec import nmi_matrix
from keras_latentquant.metrics.mig import MIGResult
from keras_latentquant.metrics.mig import compute_mig
from keras_latentquant.metrics.reconstruction import per_image_psnr
from keras_latentquant.metrics.reconstruction import psnr

__all__ = [
    "DCIResult",
    "InfoMECResult",
    "MIGResult",
    "active_latents",
    "compute_dci",
    "compute_infoc",
    "compute_infoe",
    "compute_infom",
    "compute_infomec",
    "compute_mig",
    "dci_from_importance",
    "nmi_matrix",
    "per_image_psnr",
    "psnr",
]
