from keras_latentquant.suggest import did_you_mean


def test_suggests_the_closest_names_ignoring_case():
    assert did_you_mean("qlea", ["qlae", "ae", "vqvae"]) == " Did you mean 'qlae'?"
    assert did_you_mean("Fast", ["paper", "paper_small", "fast"]) == " Did you mean 'fast'?"
    assert did_you_mean("procedural_dsprite", ["procedural_dsprites", "real_dsprites", "real_mpi3d"]) == (
        " Did you mean 'procedural_dsprites' or 'real_dsprites'?")


def test_nothing_close_gives_nothing():
    assert did_you_mean("mnist", ["procedural_dsprites", "real_shapes3d"]) == ""
    assert did_you_mean(3, []) == ""
