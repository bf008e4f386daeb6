"""Latent explorer: a page over a trained model, one slider per latent and the decoded image following.

    python -m keras_latentquant.explore --model=RUN_DIR_OR_.keras [--port=8600] [--serving_url=http://host:8501]

`server.py` is the web application (Flask), `static/` the page. See `__main__.py` for the command.
"""
