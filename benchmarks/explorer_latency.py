"""Latent explorer latency: slider moves in headless Chromium, each timed from its request to its image drawn.

    python benchmarks/explorer_latency.py --architecture=fast --moves=200 \\
        --screenshot=benchmarks/figures/latent_explorer.png
    python benchmarks/explorer_latency.py --model=runs/quickstart

Serves the explorer for `--model` (a run or .keras file; its dataset images and evaluation are used as the
command does), or for an untrained QLAE of `--architecture` (10 latents of 10 values, 64x64x1 images: the
decoder's cost does not depend on training), moves the sliders `--moves` times with the keyboard (one move at a
time, each waiting for its image), and prints the median and 95th percentile of the page's own timing
(`performance.now()` from the predict request to the drawn canvas). Needs Debian's chromium and Playwright.
"""

import os
import shutil
import sys
import threading
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

F = flags.FLAGS
flags.DEFINE_string("model", None, "A run folder or .keras file (default: an untrained QLAE of --architecture).")
flags.DEFINE_string("architecture", "fast", "Architecture of the untrained QLAE when --model is not given.")
flags.DEFINE_integer("moves", 200, "Slider moves to time.")
flags.DEFINE_string("screenshot", None, "Where to save a screenshot of the page (PNG).")



def _explorer():
    import keras
    import numpy as np

    from keras_latentquant.explore.server import ExplorerModel

    if F.model is None:
        from keras_latentquant.models import build_qlae

        keras.utils.set_random_seed(0)
        model = build_qlae((64, 64, 1), num_latents=10, num_values=10, architecture=F.architecture, compile=False)
        images = np.random.default_rng(0).uniform(0, 1, (4, 64, 64, 1)).astype("float32")
        return ExplorerModel.from_keras(model, images=images), f"untrained QLAE ({F.architecture})"
    from keras_latentquant.datasets.pipeline import load_arrays
    from keras_latentquant.explore.server import find_evaluation
    from keras_latentquant.model_files import load_model_file, resolve_data_settings, resolve_model_path

    path = resolve_model_path(F.model)
    data = resolve_data_settings(path, None, None, None)
    images, _ = load_arrays(data["dataset"], data["dataset_config"], split="train[-16:]", data_dir=data["data_dir"],
                            max_examples=16)
    nmi, names = find_evaluation(path)
    return ExplorerModel.from_keras(load_model_file(path), images=images, nmi=nmi, factor_names=names), path


def main(argv):
    del argv
    import numpy as np
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    import keras_latentquant

    keras_latentquant.import_all()
    from keras_latentquant.explore import HEADLESS_CHROMIUM_ARGS
    from keras_latentquant.explore.server import create_app

    explorer, what = _explorer()
    server = make_server("127.0.0.1", 0, create_app(explorer), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=list(HEADLESS_CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_function("window.explorerLatencies.length >= 1")
        page.evaluate("window.explorerLatencies.length = 0")
        started = time.perf_counter()
        for move in range(F.moves):
            latent = move % explorer.num_latents
            slider = page.locator(f"#latent-{latent}")
            slider.focus()
            # A key that moves it: right unless it is at its last value (a sample's code may start there).
            at_end = slider.evaluate("element => element.value === element.max")
            page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
            page.wait_for_function(f"window.explorerLatencies.length >= {move + 1}")
        wall = time.perf_counter() - started
        latencies = np.array(page.evaluate("window.explorerLatencies"))
        if F.screenshot:
            page.hover("#latent-3")
            page.wait_for_timeout(500)
            page.screenshot(path=F.screenshot, full_page=True)
        browser.close()
    server.shutdown()
    print(f"{what}: {len(latencies)} slider moves, request to drawn image: median {np.median(latencies):.1f} ms, "
          f"95th percentile {np.percentile(latencies, 95):.1f} ms, max {latencies.max():.1f} ms "
          f"({wall:.1f} s for all moves, keyboard and waiting included)")
    if F.screenshot:
        print(f"wrote {F.screenshot}")


if __name__ == "__main__":
    app.run(main)
