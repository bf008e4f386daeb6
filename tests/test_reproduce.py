"""benchmarks/reproduce.py: aggregation of per-run scores, the table, the RESULTS.md section, resuming.

The aggregation tests work on fabricated `scores.json` files (no training); one tiny end-to-end
invocation trains one AE for 2 steps in a subprocess, and a second invocation of the same command
must skip it.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "reproduce.py")


def _load_module():
    # The script defines its flags only when run as a script, so importing it here adds no absl flags.
    spec = importlib.util.spec_from_file_location("benchmarks_reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reproduce = _load_module()

BUDGET = dict(steps=10, gan_steps=4, batch_size=8, gan_batch_size=4, critic_steps=2, dataset_config="tiny",
              data_dir=None, architecture="fast", num_latents=None, eval_samples=200)


def _fake_run(output_dir, dataset, model, seed, **scores):
    """Writes the files a finished run leaves: its reproduce_config.json and scores.json."""
    planned = reproduce.run_config(dataset, model, seed, str(output_dir), **BUDGET)
    folder = planned["config"]["output_dir"]
    os.makedirs(folder, exist_ok=True)
    reproduce.write_json_atomic(os.path.join(folder, reproduce.RUN_CONFIG_FILE), planned)
    payload = {
        "dataset": dataset, "dataset_config": "tiny", "model": model, "seed": seed, "trainer": planned["trainer"],
        "budget": reproduce.budget_of(planned), "num_latents": 10, "latents": "codes",
        "infom": 0.5, "infoe": 0.5, "infoc": 0.5, "dci_d": 0.5, "dci_c": 0.5, "dci_i": 0.5,
        "psnr": None if planned["trainer"] == "gan" else 20.0, "wall_seconds": 100.0,
        "command": "python benchmarks/reproduce.py --fake", "machine": "2 CPU cores (test)",
        "versions": {"tensorflow": "x", "keras": "y", "python": "z"},
    }
    payload.update(scores)
    reproduce.write_json_atomic(os.path.join(folder, reproduce.SCORES_FILE), payload)
    return folder


def test_summarize_mean_and_sample_std():
    summary = reproduce.summarize([0.1, 0.2, 0.6])
    assert summary["mean"] == pytest.approx(0.3)
    # sample std: sqrt(((-0.2)^2 + (-0.1)^2 + 0.3^2) / 2) = sqrt(0.14 / 2)
    assert summary["std"] == pytest.approx(0.07 ** 0.5)
    assert (summary["min"], summary["max"], summary["n"]) == (0.1, 0.6, 3)
    single = reproduce.summarize([0.4])
    assert single["mean"] == 0.4 and single["std"] is None


def test_aggregate_and_table(tmp_path):
    for seed, infom, psnr, wall in [(0, 0.40, 20.0, 90.0), (1, 0.50, 22.0, 110.0), (2, 0.60, 24.0, 100.0)]:
        _fake_run(tmp_path, "procedural_dsprites", "qlae", seed, infom=infom, psnr=psnr, wall_seconds=wall)
    _fake_run(tmp_path, "procedural_dsprites", "qlinfogan", 0, infoc=0.25)
    _fake_run(tmp_path, "procedural_dsprites", "ae", 0, infoc=0.125)
    scores = reproduce.load_scores(str(tmp_path))
    assert len(scores) == 5
    groups = reproduce.aggregate(scores, order_models=["qlae", "ae", "qlinfogan"],
                                 order_datasets=["procedural_dsprites"])
    assert [g["model"] for g in groups] == ["qlae", "ae", "qlinfogan"]
    qlae = groups[0]
    assert qlae["seeds"] == [0, 1, 2]
    assert qlae["columns"]["infom"]["mean"] == pytest.approx(0.5)
    assert qlae["columns"]["infom"]["std"] == pytest.approx(0.1)
    assert qlae["columns"]["psnr"]["std"] == pytest.approx(2.0)
    assert qlae["columns"]["wall_seconds"]["mean"] == pytest.approx(100.0)
    assert groups[2]["columns"]["psnr"] is None  # a GAN has no PSNR

    table = reproduce.format_table(groups).splitlines()
    assert table[0] == ("| dataset | model | seeds | InfoM | InfoE | InfoC | DCI D | DCI C | DCI I | PSNR (dB) | "
                        "wall (s) |")
    assert table[2] == ("| procedural_dsprites | qlae | 3 | 0.500 ± 0.100 | 0.500 ± 0.000 | 0.500 ± 0.000 | "
                        "0.500 ± 0.000 | 0.500 ± 0.000 | 0.500 ± 0.000 | 22.00 ± 2.00 | 100 ± 10 |")
    # One seed: the mean alone (no spread); the GAN's PSNR is n/a.
    assert table[3].startswith("| procedural_dsprites | ae | 1 | 0.500 | 0.500 | 0.125 |")
    assert table[4].split(" | ")[-2] == "n/a"
    walls = reproduce.format_wall_times(groups).splitlines()
    assert walls[0] == "| dataset | model | seed 0 (s) | seed 1 (s) | seed 2 (s) |"
    assert walls[2] == "| procedural_dsprites | qlae | 90 | 110 | 100 |"
    assert walls[3] == "| procedural_dsprites | ae | 100 | missing | missing |"


def test_aggregate_refuses_mixed_budgets(tmp_path):
    _fake_run(tmp_path, "procedural_dsprites", "qlae", 0)
    _fake_run(tmp_path, "procedural_dsprites", "qlae", 1, budget={"steps": 99})
    with pytest.raises(ValueError, match="different budgets"):
        reproduce.aggregate(reproduce.load_scores(str(tmp_path)))


def test_plan_marks_finished_runs_and_refuses_another_budget(tmp_path):
    _fake_run(tmp_path, "procedural_dsprites", "qlae", 0)
    runs = reproduce.plan_runs(str(tmp_path), ["procedural_dsprites"], ["qlae", "qlinfogan"], ["0", "1"], **BUDGET)
    assert [(r["model"], r["seed"], r["done"]) for r in runs] == [
        ("qlae", 0, True), ("qlinfogan", 0, False), ("qlae", 1, False), ("qlinfogan", 1, False)]  # seed-major
    assert runs[1]["trainer"] == "gan" and runs[1]["config"]["steps"] == 4 and runs[1]["config"]["batch_size"] == 4
    assert runs[0]["config"]["steps"] == runs[0]["config"]["eval_interval"] == 10
    assert runs[2]["folder"] == os.path.join(str(tmp_path), "procedural_dsprites", "qlae", "seed_1")
    with pytest.raises(ValueError, match=r"steps: 10 there, 20 now.*new --output_dir"):
        reproduce.plan_runs(str(tmp_path), ["procedural_dsprites"], ["qlae"], ["0"], **dict(BUDGET, steps=20))


def test_runs_with_scores_are_skipped_and_failures_reported(tmp_path):
    _fake_run(tmp_path, "procedural_dsprites", "qlae", 0)
    planned = reproduce.plan_runs(str(tmp_path), ["procedural_dsprites"], ["qlae", "ae"], ["0"], **BUDGET)
    called, lines = [], []

    def fake_execute(run, command_line, log):
        called.append((run["model"], run["seed"], command_line))
        return (1 if run["model"] == "ae" else 0), 1.0

    failed = reproduce.train_missing(planned, "python benchmarks/reproduce.py", run=fake_execute, log=lines.append)
    assert called == [("ae", 0, "python benchmarks/reproduce.py")]  # qlae/seed_0 has scores: not rerun
    assert failed == [os.path.join(str(tmp_path), "procedural_dsprites", "ae", "seed_0")]
    assert lines[0] == "2 runs planned, 1 already finished, 1 to train"
    assert "FAILED (exit code 1;" in lines[-1]


def test_results_section_replaced_not_duplicated(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Other section\n\nkept text\n")
    output_dir = tmp_path / "runs"
    _fake_run(output_dir, "procedural_dsprites", "qlae", 0, infom=0.25)
    planned = reproduce.plan_runs(str(output_dir), ["procedural_dsprites"], ["qlae"], ["0", "1"], **BUDGET)
    summary = reproduce.write_outputs(str(output_dir), planned, ["qlae"], ["procedural_dsprites"], str(results),
                                      reading="Reading: first.", command_line="python reproduce.py --aggregate_only")
    assert summary["missing"] == ["procedural_dsprites/qlae/seed_1"]
    first = results.read_text()
    assert first.startswith("# Results\n\n## Other section\n\nkept text\n\n" + reproduce.BEGIN_MARKER)
    assert "| procedural_dsprites | qlae | 1 | 0.250 |" in first
    assert "Missing runs: procedural_dsprites/qlae/seed_1." in first
    assert "python benchmarks/reproduce.py --fake" in first and "Reading: first." in first
    assert "10 steps of batch 8; `tiny` data config, the last 200 images held out" in first
    assert "twice the number of factors (10 on procedural_dsprites)" in first
    assert "Table written by `python reproduce.py --aggregate_only`." in first

    # A later section written by someone else after ours must survive the rewrite.
    results.write_text(first + "\n## Later section\n\nlater text\n")
    _fake_run(output_dir, "procedural_dsprites", "qlae", 1, infom=0.75)
    reproduce.write_outputs(str(output_dir), planned, ["qlae"], ["procedural_dsprites"], str(results),
                            reading="Reading: second.")
    second = results.read_text()
    assert second.count(reproduce.SECTION_TITLE) == 1 and second.count(reproduce.BEGIN_MARKER) == 1
    assert "| procedural_dsprites | qlae | 2 | 0.500 ± 0.354 |" in second
    assert "Every planned run finished." in second and "Reading: first." not in second
    assert second.startswith("# Results\n\n## Other section\n\nkept text\n\n")
    assert second.endswith(reproduce.END_MARKER + "\n\n## Later section\n\nlater text\n")
    table = json.loads((output_dir / "table.json").read_text())
    assert table["groups"][0]["columns"]["infom"]["values"] == [0.25, 0.75]
    assert "0.500 ± 0.354" in (output_dir / "table.md").read_text()


def test_results_section_without_markers_is_refused():
    with pytest.raises(ValueError, match="without the markers"):
        reproduce.replace_section("# R\n\n## Reproduction (issue 8)\n\nold\n", "new\n")
    with pytest.raises(ValueError, match="only one of the reproduction markers"):
        reproduce.replace_section("# R\n" + reproduce.BEGIN_MARKER + "\n", "new\n")


def _invoke(arguments, cwd, timeout=300):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=environment)


# Two subprocesses that import TensorFlow, one trains 2 steps: 32 s on quiet cores (220 s when 6 jobs shared them).
def test_tiny_end_to_end_then_skipped(tmp_path):
    output_dir = tmp_path / "runs"
    arguments = ["--models=ae", "--datasets=procedural_dsprites", "--seeds=0", "--dataset_config=tiny",
                 f"--data_dir={tmp_path / 'tfds'}", "--steps=2", "--batch_size=8", "--eval_samples=200",
                 f"--output_dir={output_dir}"]
    completed = _invoke(arguments, tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    folder = output_dir / "procedural_dsprites" / "ae" / "seed_0"
    scores = json.loads((folder / "scores.json").read_text())
    for key in ("infom", "infoe", "infoc", "dci_d", "dci_c", "dci_i"):
        assert 0.0 <= scores[key] <= 1.0, key
    assert scores["psnr"] > 0 and scores["wall_seconds"] > 0 and scores["budget"]["steps"] == 2
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 2
    assert "| procedural_dsprites | ae | 1 |" in (output_dir / "table.md").read_text()

    # The same command again: the finished run is skipped (its scores file is left as it was).
    modified = os.path.getmtime(folder / "scores.json")
    again = _invoke(arguments, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 runs planned, 1 already finished, 0 to train" in again.stdout
    assert os.path.getmtime(folder / "scores.json") == modified


def test_claims_compare_the_subject_with_its_best_rival(tmp_path):
    # InfoM: qlae 0.60/0.62/0.64, ae 0.40/0.45/0.50, vqvae 0.50/0.52/0.54 -> best rival vqvae, difference +0.10
    # on every seed (interval of width 0): holds. InfoC: qlae below ae on every seed: does not hold.
    # PSNR: qlae 0.2 dB under ae with spread: within the 0.5 dB tolerance only if the interval says so.
    for seed in range(3):
        _fake_run(tmp_path, "procedural_dsprites", "qlae", seed, infom=0.60 + 0.02 * seed, infoc=0.20,
                  psnr=20.0 + (0.3, -0.2, 0.1)[seed])
        _fake_run(tmp_path, "procedural_dsprites", "ae", seed, infom=0.40 + 0.05 * seed, infoc=0.30, psnr=20.2)
        _fake_run(tmp_path, "procedural_dsprites", "vqvae", seed, infom=0.50 + 0.02 * seed, infoc=0.10, psnr=19.0)
    rows = reproduce.evaluate_claims(reproduce.load_scores(str(tmp_path)))
    by_claim = {row["claim"]: row for row in rows}
    infom = by_claim["QLAE beats the baselines on InfoM"]
    assert infom["best_rival"] == "vqvae" and infom["difference"] == pytest.approx(0.10)
    assert infom["half_width"] == pytest.approx(0.0, abs=1e-12) and infom["verdict"] == "holds"
    assert infom["rivals_missing"] == ["beta_vae", "beta_tcvae", "bioae"]
    infoc = by_claim["QLAE beats the baselines on InfoC"]
    assert infoc["best_rival"] == "ae" and infoc["difference"] == pytest.approx(-0.10)
    assert infoc["verdict"] == "does not hold"
    psnr = by_claim["QLAE keeps AE's reconstruction"]
    differences = [0.3 - 0.2, -0.2 - 0.2, 0.1 - 0.2]  # qlae - ae per seed
    mean, half_width = reproduce.mean_interval(differences)
    assert psnr["difference"] == pytest.approx(mean) and psnr["half_width"] == pytest.approx(half_width)
    assert psnr["verdict"] == "not resolved at this budget"  # the interval reaches below -0.5 dB and above it
    # Claims whose models were not run are left out; the ablation claims need their ablation.
    assert not any("matters" in row["claim"] for row in rows)
    # An ablation, run: its claims on InfoM and InfoC compare QLAE with it alone (qlae - ablation: +0.05, -0.02).
    for seed in range(3):
        _fake_run(tmp_path, "procedural_dsprites", "vqvae_weight_decay", seed, infom=0.55 + 0.02 * seed, infoc=0.22)
    ablation = {row["claim"]: row for row in reproduce.evaluate_claims(reproduce.load_scores(str(tmp_path)))
                if "matters" in row["claim"]}
    assert sorted(ablation) == ["scalar quantization matters: QLAE beats VQ-VAE with weight decay on InfoC",
                                "scalar quantization matters: QLAE beats VQ-VAE with weight decay on InfoM"]
    infom = ablation["scalar quantization matters: QLAE beats VQ-VAE with weight decay on InfoM"]
    assert infom["difference"] == pytest.approx(0.05) and infom["verdict"] == "holds"
    assert ablation["scalar quantization matters: QLAE beats VQ-VAE with weight decay on InfoC"]["verdict"] == \
        "does not hold"
    table = reproduce.format_claims(rows)
    assert "| QLAE beats the baselines on InfoM | procedural_dsprites | InfoM | +0.100 ± 0.000 (paired, n=3/3) | " \
        "vqvae (not run: beta_vae, beta_tcvae, bioae) | holds |" in table


def test_a_claim_to_beat_the_baselines_is_tested_against_each_of_them(tmp_path):
    # InfoM: qlae 0.60/0.62/0.64; ae 0.58/0.60/0.62 (mean 0.60, the best rival, qlae +0.02 on every seed: above
    # 0 alone); bioae 0.40/0.60/0.70 (mean 0.567, paired differences +0.20/+0.02/-0.06: its interval spans 0).
    # InfoC: ae is the best rival (mean 0.22) and spans 0 (differences -0.10/+0.10/-0.06), but bioae (0.21) sits
    # above qlae on every seed (-0.01 each time): the claim does not hold, decided by bioae.
    for seed in range(3):
        _fake_run(tmp_path, "procedural_dsprites", "qlae", seed, infom=0.60 + 0.02 * seed, infoc=0.20)
        _fake_run(tmp_path, "procedural_dsprites", "ae", seed, infom=0.58 + 0.02 * seed,
                  infoc=(0.30, 0.10, 0.26)[seed])
        _fake_run(tmp_path, "procedural_dsprites", "bioae", seed, infom=(0.40, 0.60, 0.70)[seed], infoc=0.21)
    rows = {row["claim"]: row for row in reproduce.evaluate_claims(reproduce.load_scores(str(tmp_path)))}
    infom = rows["QLAE beats the baselines on InfoM"]
    assert infom["best_rival"] == "ae" and infom["difference"] == pytest.approx(0.02)
    assert infom["half_width"] == pytest.approx(0.0, abs=1e-12)  # against ae alone it would hold
    bioae_mean, bioae_half = reproduce.mean_interval([0.20, 0.02, -0.06])
    assert infom["comparisons"]["bioae"]["difference"] == pytest.approx(bioae_mean)
    assert infom["comparisons"]["bioae"]["half_width"] == pytest.approx(bioae_half)
    assert infom["verdict"] == "not resolved at this budget" and infom["decided_by"] == "bioae"
    infoc = rows["QLAE beats the baselines on InfoC"]
    assert infoc["best_rival"] == "ae" and infoc["comparisons"]["bioae"]["difference"] == pytest.approx(-0.01)
    assert infoc["verdict"] == "does not hold" and infoc["decided_by"] == "bioae"
    table = reproduce.format_claims(list(rows.values()))
    assert (f"| QLAE beats the baselines on InfoM | procedural_dsprites | InfoM | +0.020 ± 0.000 (paired, n=3/3) | "
            f"ae (not run: beta_vae, beta_tcvae, vqvae) | not resolved at this budget (against bioae: "
            f"{bioae_mean:+.3f} ± {bioae_half:.3f} (paired, n=3/3)) |") in table
    assert "| does not hold (against bioae: -0.010 ± 0.000 (paired, n=3/3)) |" in table
    # A rival with one seed has no interval: the claim cannot hold yet, however far ahead the others are.
    verdicts = reproduce._claim_verdict(
        {"ae": {"difference": 0.1, "half_width": 0.01}, "vqvae": {"difference": 0.5, "half_width": None}},
        "ae", 0.0)
    assert verdicts == ("not resolved at this budget", "vqvae")
    assert reproduce._claim_verdict({"ae": {"difference": 0.1, "half_width": 0.01}}, "ae", 0.0) == ("holds", None)


def test_named_results_sections_are_replaced_independently(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n")
    output_dir = tmp_path / "runs"
    _fake_run(output_dir, "procedural_dsprites", "qlae", 0, infom=0.25)
    planned = reproduce.plan_runs(str(output_dir), ["procedural_dsprites"], ["qlae"], ["0"], **BUDGET)
    claims_title = "## The paper's claims (issue 17)"
    for title, reading in ((reproduce.SECTION_TITLE, "Reading: issue 8."), (claims_title, "Reading: issue 17.")):
        reproduce.write_outputs(str(output_dir), planned, ["qlae"], ["procedural_dsprites"], str(results),
                                reading=reading, title=title)
    # Rewriting the named section leaves the default one alone.
    reproduce.write_outputs(str(output_dir), planned, ["qlae"], ["procedural_dsprites"], str(results),
                            reading="Reading: issue 17, again.", title=claims_title)
    text = results.read_text()
    begin, end = reproduce.section_markers(claims_title)
    assert (begin, end) != (reproduce.BEGIN_MARKER, reproduce.END_MARKER)
    assert text.count(reproduce.BEGIN_MARKER) == text.count(reproduce.END_MARKER) == 1
    assert text.count(begin) == text.count(end) == 1 and text.count(claims_title) == 1
    assert "Reading: issue 8." in text and "Reading: issue 17, again." in text and "Reading: issue 17.\n" not in text
    assert text.index(reproduce.END_MARKER) < text.index(begin)
    assert "qlae latents scored as integer codes" in text
    with pytest.raises(ValueError, match="without the markers"):
        reproduce.replace_section("# R\n\n" + claims_title + "\n\nold\n", "new\n", claims_title)


def test_latent_kinds_are_described_from_the_runs():
    runs = [{"model": "qlae", "latents": "codes"}, {"model": "ae", "latents": "continuous"},
            {"model": "factorqvae", "latents": "codes"}, {"model": "qlae", "latents": "codes"}]
    assert reproduce.describe_latents(runs) == (
        "ae latents scored as continuous values; qlae, factorqvae latents scored as integer codes")


def test_budget_sentence_lists_each_model_under_its_own_budget():
    base = {"steps": 3000, "dataset_config": "sample_50k", "eval_samples": 5000, "architecture": "fast",
            "num_latents": None}
    groups = [
        {"trainer": "autoencoder", "model": "qlae", "dataset": "d", "num_latents": 10,
         "budget": dict(base, batch_size=64, model="qlae", dataset="d")},
        {"trainer": "autoencoder", "model": "factorqvae", "dataset": "d", "num_latents": 10,
         "budget": dict(base, batch_size=128, model="factorqvae", dataset="d")},
    ]
    text = reproduce.describe_budget(groups)
    assert "factorqvae: 3000 steps of batch 128;" in text and "qlae: 3000 steps of batch 64;" in text
    assert "qlae, factorqvae" not in text and "factorqvae, qlae" not in text


def test_archived_runs_count_as_finished_and_new_ones_are_archived(tmp_path):
    output_dir, archive_dir = tmp_path / "runs", tmp_path / "archive"
    _fake_run(output_dir, "procedural_dsprites", "qlae", 0, infom=0.7)
    (tmp_path / "runs" / "procedural_dsprites" / "qlae" / "seed_0" / "model.keras").write_bytes(b"x" * 1000)
    planned = reproduce.plan_runs(str(output_dir), ["procedural_dsprites"], ["qlae", "ae"], ["0"],
                                  archive_dir=str(archive_dir), **BUDGET)
    assert reproduce.archive_finished(planned, str(output_dir), str(archive_dir)) == 1
    copy = archive_dir / "procedural_dsprites" / "qlae" / "seed_0"
    assert sorted(os.listdir(copy)) == sorted([reproduce.SCORES_FILE, reproduce.RUN_CONFIG_FILE])  # no model
    assert json.loads((copy / reproduce.SCORES_FILE).read_text())["infom"] == 0.7

    # The run folders are lost: the archived run still counts as finished; the other one trains and is archived.
    shutil.rmtree(output_dir)
    planned = reproduce.plan_runs(str(output_dir), ["procedural_dsprites"], ["qlae", "ae"], ["0"],
                                  archive_dir=str(archive_dir), **BUDGET)
    assert [(run["model"], run["done"]) for run in planned] == [("qlae", True), ("ae", False)]

    def fake_execute(run, command_line, log):
        _fake_run(output_dir, run["dataset"], run["model"], run["seed"], infom=0.4)
        return 0, 1.0

    lines = []
    assert reproduce.train_missing(planned, "python benchmarks/reproduce.py", run=fake_execute, log=lines.append,
                                   archive=(str(output_dir), str(archive_dir))) == []
    assert lines[-1].endswith(f"archived in {archive_dir / 'procedural_dsprites' / 'ae' / 'seed_0'}")
    scores = reproduce.load_scores(str(archive_dir))
    assert [(row["model"], row["infom"]) for row in scores] == [("ae", 0.4), ("qlae", 0.7)]
    # Another budget in the archive is refused like one in the run folders.
    with pytest.raises(ValueError, match="steps: 10 there, 20 now"):
        reproduce.plan_runs(str(output_dir), ["procedural_dsprites"], ["qlae"], ["0"], archive_dir=str(archive_dir),
                            **dict(BUDGET, steps=20))


def test_runs_train_several_at_a_time_with_named_output_lines(tmp_path):
    planned = reproduce.plan_runs(str(tmp_path), ["procedural_dsprites"], ["qlae", "ae", "vqvae"], ["0"], **BUDGET)
    lines, running, most = [], [0], [0]
    import threading
    import time as time_module

    lock = threading.Lock()

    def fake_execute(run, command_line, log):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time_module.sleep(0.2)
        log("    step line\n")
        with lock:
            running[0] -= 1
        return (1 if run["model"] == "ae" else 0), 0.2

    failed = reproduce.train_missing(planned, "cmd", run=fake_execute, log=lines.append, jobs=3)
    assert most[0] == 3  # all three at once
    assert failed == [os.path.join(str(tmp_path), "procedural_dsprites", "ae", "seed_0")]
    assert lines[0] == "3 runs planned, 0 already finished, 3 to train, 3 at a time"
    assert "[procedural_dsprites/vqvae/seed_0] step line" in lines


def test_gan_steps_need_not_divide_into_an_autoencoder_runs_evaluations():
    budget = dict(BUDGET, steps=12, gan_steps=150)  # 150 is no multiple of 4: only a GAN run would care
    assert reproduce.run_config("procedural_dsprites", "qlae", 0, "out", evaluations=4,
                                **budget)["config"]["eval_interval"] == 3
    with pytest.raises(ValueError, match="--evaluations=4 must divide the gan_steps \\(150\\)"):
        reproduce.run_config("procedural_dsprites", "qlinfogan", 0, "out", evaluations=4, **budget)
