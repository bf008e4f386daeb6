"""What the trainer prints: a progress bar only on a terminal; the factor-latent reading of a finished run."""

import io

from keras_latentquant.training.callbacks import format_factor_latents
from keras_latentquant.training.fitting import fit_verbosity


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    assert fit_verbosity(1, _Terminal()) == 1
    assert fit_verbosity(1, io.StringIO()) == 2  # a file or pipe: one line per epoch (evaluation interval)
    assert fit_verbosity(0, io.StringIO()) == 0 and fit_verbosity(2, _Terminal()) == 2


def test_factor_latent_reading_names_each_factors_best_latent_and_runner_up():
    nmi = [[0.05, 0.41, 0.02], [0.30, float("nan"), 0.60], [0.0, 0.0, 0.0]]
    lines = format_factor_latents(nmi, ["shape", "position_x", "scale"]).splitlines()
    assert lines[0].startswith("which latent holds each factor")
    assert lines[1].split() == ["shape", "z1", "0.41", "next", "z0", "0.05"]
    assert lines[2].split() == ["position_x", "z2", "0.60", "next", "z0", "0.30"]  # NaN (inactive) ranks last
    assert lines[3].split() == ["scale", "z0", "0.00", "next", "z1", "0.00"]  # ties: the lower index first
