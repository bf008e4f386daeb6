"""Times the evaluation metrics on a Shapes3D-sized synthetic problem.

Sources: N samples (default 10,000) of 6 independent uniform factors with Shapes3D's sizes
(10, 10, 10, 8, 4, 15). Latents (default 12, twice the number of sources as in the paper): a noisy mixed
encoding of the sources, ``z = u W^T + sigma * eps`` with ``u_k = (s_k + 1/2) / |S_k|`` in (0, 1), where
latent j loads 1 on source ``j mod K`` and a random weight in [-0.3, 0.3] on one other source, and
``eps ~ N(0, 1)``; the discrete variant cuts every latent into 10 equal-width values (0..9, int64).

For both variants the script times InfoMEC, DCI (disentanglement_lib's gradient-boosted trees, the
histogram trees and linear importances; with --sklearn_gbt also scikit-learn's own classifier, minutes) and
MIG, and prints a table of wall-clock and CPU seconds, the total of the suite the project runs after
training (InfoMEC + DCI-gbt + MIG) and the total of all, with the load average of the machine before and
after (timings are noisy on shared machines). The first DCI-gbt call of a fresh install also compiles its
split search (numba, a few seconds, cached on disk). Run:

    python benchmarks/metric_suite.py [--num_samples 10000] [--num_latents 12] [--repeats 1] [--sklearn_gbt]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from keras_latentquant.metrics.dci import compute_dci
from keras_latentquant.metrics.infomec import compute_infomec
from keras_latentquant.metrics.mig import compute_mig

SHAPES3D_FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SECONDARY_LOADING = 0.3
DISCRETE_VALUES = 10


def make_problem(
    num_samples: int, num_latents: int, noise: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Sources (N, K), continuous latents (N, d) and their 10-value discretisation (N, d)."""
    rng = np.random.default_rng(seed)
    sizes = np.array(SHAPES3D_FACTOR_SIZES)
    num_sources = sizes.size
    sources = rng.integers(0, sizes, size=(num_samples, num_sources))
    # u_k = (s_k + 1/2) / |S_k|: every factor spread over (0, 1).
    unit_sources = (sources + 0.5) / sizes
    loadings = np.zeros((num_latents, num_sources))
    latent_index = np.arange(num_latents)
    loadings[latent_index, latent_index % num_sources] = 1.0
    other = (latent_index % num_sources + rng.integers(1, num_sources, num_latents)) % num_sources
    loadings[latent_index, other] = rng.uniform(-SECONDARY_LOADING, SECONDARY_LOADING, num_latents)
    # z = u W^T + sigma eps
    latents = unit_sources @ loadings.T + noise * rng.standard_normal((num_samples, num_latents))
    low, high = latents.min(axis=0), latents.max(axis=0)
    discrete = np.minimum(
        np.floor((latents - low) / (high - low) * DISCRETE_VALUES), DISCRETE_VALUES - 1
    ).astype(np.int64)
    return sources, latents, discrete


def time_call(function: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Best wall-clock seconds over `repeats` calls, that call's CPU seconds, and the last call's result."""
    best, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, best_cpu = elapsed, time.process_time() - start_cpu
    return best, best_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--num_latents", type=int, default=12)
    parser.add_argument(
        "--noise", type=float, default=0.05, help="standard deviation sigma of the latent noise"
    )
    parser.add_argument("--repeats", type=int, default=1, help="report the best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sklearn_gbt", action="store_true", help="also time DCI with scikit-learn's classifier (minutes)"
    )
    args = parser.parse_args()

    sources, continuous, discrete = make_problem(args.num_samples, args.num_latents, args.noise, args.seed)
    print(
        f"{args.num_samples} samples, {args.num_latents} latents, sources of sizes {SHAPES3D_FACTOR_SIZES}; "
        f"{os.cpu_count()} CPUs; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    metrics: dict[str, Callable[[npt.NDArray], object]] = {
        "InfoMEC": lambda z: compute_infomec(sources, z),
        "DCI (gbt)": lambda z: compute_dci(sources, z, importance="gbt"),
        **({"DCI (sklearn_gbt)": lambda z: compute_dci(sources, z, importance="sklearn_gbt")} if args.sklearn_gbt else {}),
        "DCI (hist_gbt)": lambda z: compute_dci(sources, z, importance="hist_gbt"),
        "DCI (linear)": lambda z: compute_dci(sources, z, importance="linear"),
        "MIG": lambda z: compute_mig(sources, z),
    }
    seconds: dict[str, dict[str, tuple[float, float]]] = {}
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for variant, latents in (("continuous", continuous), ("discrete", discrete)):
        seconds[variant], scores[variant] = {}, {}
        for name, metric in metrics.items():
            elapsed, cpu, result = time_call(lambda: metric(latents), args.repeats)
            seconds[variant][name] = (elapsed, cpu)
            scores[variant][name] = result.as_dict()

    suite = ("InfoMEC", "DCI (gbt)", "MIG")
    header = f"{'metric':<36}{'continuous: wall / CPU (s)':>28}{'discrete: wall / CPU (s)':>28}"
    print(header)
    print("-" * len(header))

    def row(label: str, names: tuple[str, ...]) -> str:
        cells = []
        for variant in ("continuous", "discrete"):
            wall = sum(seconds[variant][name][0] for name in names)
            cpu = sum(seconds[variant][name][1] for name in names)
            cells.append(f"{wall:.2f} / {cpu:.2f}")
        return f"{label:<36}{cells[0]:>28}{cells[1]:>28}"

    for name in metrics:
        print(row(name, (name,)))
    print("-" * len(header))
    print(row("suite: InfoMEC + DCI (gbt) + MIG", suite))
    print(row("all", tuple(metrics)))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("scores:")
    for variant in ("continuous", "discrete"):
        for name in metrics:
            values = ", ".join(f"{key}={value:.3f}" for key, value in scores[variant][name].items())
            print(f"  {variant:<11}{name:<14}{values}")


if __name__ == "__main__":
    main()
