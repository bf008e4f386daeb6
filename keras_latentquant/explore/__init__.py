"""Latent explorer: a page over a trained model, one slider per latent and the decoded image following.

    python -m keras_latentquant.explore --model=RUN_DIR_OR_.keras [--port=8600] [--serving_url=http://host:8501]

`server.py` is the web application (Flask), `static/` the page. See `__main__.py` for the command.
"""

# Headless Chromium's flags for driving the page on a server or in a container (the browser test, the latency
# benchmark): no sandbox (root), no GPU, no background connections, shared memory in /tmp (a container's
# /dev/shm can be too small for the renderer).
HEADLESS_CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          "--disable-dev-shm-usage")
