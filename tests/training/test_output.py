"""What the trainer prints: a progress bar only on a terminal."""

import io

from keras_latentquant.training.run import fit_verbosity


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    assert fit_verbosity(1, _Terminal()) == 1
    assert fit_verbosity(1, io.StringIO()) == 2  # a file or pipe: one line per epoch (evaluation interval)
    assert fit_verbosity(0, io.StringIO()) == 0 and fit_verbosity(2, _Terminal()) == 2
