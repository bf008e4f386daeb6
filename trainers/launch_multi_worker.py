"""Run a trainer as N MultiWorkerMirroredStrategy workers, local processes on 127.0.0.1.

    python trainers/launch_multi_worker.py --num_workers=2 --worker_logs=runs/qlae_2workers_logs -- \
        --flagfile=trainers/flags/quickstart.flags --output_dir=runs/qlae_2workers

Everything after `--` goes to every worker unchanged (the launcher adds `--strategy=multi_worker`), so all
workers build the same model and read the same seeded data; `--batch_size` stays the global batch, split
evenly over the workers. The launcher prepares the dataset once (so the workers do not race to
generate it), picks a free port per worker, starts worker `i` with

    TF_CONFIG={"cluster": {"worker": ["127.0.0.1:<port 0>", ...]}, "task": {"type": "worker", "index": i}}

writes each worker's output to `<worker_logs>/worker_<i>.log` and, prefixed `[worker i]`, to its own
stdout, and waits. Worker 0 is the chief and alone writes the run's outputs to --output_dir. If any
worker fails (or --timeout passes) the launcher stops the others, prints every exit code and the tail of
the failed worker's log, and exits 1. On several machines, set TF_CONFIG yourself on each (README.md).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# The package's imports deferred (keras_latentquant/__init__.py): the launcher itself never needs TensorFlow.
# Removed again once imported, so the workers it starts import the package normally.
os.environ["KERAS_LATENTQUANT_DEFER_IMPORTS"] = "1"

from keras_latentquant.training.distributed import make_tf_config  # noqa: E402

os.environ.pop("KERAS_LATENTQUANT_DEFER_IMPORTS", None)

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_workers", 2, "Worker processes (worker 0 is the chief).", lower_bound=1)
flags.DEFINE_string("trainer", os.path.join(ROOT, "trainers", "qlae.py"), "Trainer script every worker runs.")
flags.DEFINE_string("worker_logs", "runs/multi_worker_logs", "Folder for worker_<i>.log.")
flags.DEFINE_integer("timeout", 3600, "Seconds to wait for all workers before stopping them.", lower_bound=1)
flags.DEFINE_bool("prepare_data", True, "Prepare the dataset once before starting the workers.")

# Parses the trainer's flags (its flagfile included) and prepares the dataset they name, without training.
_PREPARE = """
import runpy, sys
from absl import flags
runpy.run_path(sys.argv[1], run_name="prepare_only")
flags.FLAGS(["trainer"] + sys.argv[2:])
from keras_latentquant.datasets.pipeline import config_name, get_builder
F = flags.FLAGS
builder = get_builder(F.dataset, F.dataset_config, F.data_dir)
print(f"data ready: {F.dataset}/{config_name(builder)} in {builder.data_dir}", flush=True)
"""


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _environment(**extra) -> dict:
    pythonpath = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1", **extra)


def _stream(process: subprocess.Popen, prefix: str, log_path: str, lock: threading.Lock) -> None:
    # One thread per worker: its lines go to its own log file, and prefixed to the launcher's stdout.
    with open(log_path, "w", encoding="utf-8") as log:
        for line in process.stdout:
            log.write(line)
            log.flush()
            with lock:
                sys.stdout.write(f"{prefix} {line}")
                sys.stdout.flush()


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: str, lines: int = 25) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def launch(trainer: str, trainer_args: list[str], num_workers: int, log_dir: str, timeout: float,
           prepare_data: bool = True) -> list[int]:
    """Runs `trainer` as `num_workers` workers; returns their exit codes (all 0 on success).

    A worker that fails stops the others (SIGTERM, then SIGKILL after 15 s); their codes are then
    negative signal numbers. Timing out stops them all the same way.
    """
    os.makedirs(log_dir, exist_ok=True)
    if any(argument.startswith("--strategy") for argument in trainer_args):
        raise app.UsageError("Do not pass --strategy: the launcher runs every worker with --strategy=multi_worker.")
    if prepare_data:
        start = time.time()
        prepared = subprocess.run([sys.executable, "-c", _PREPARE, trainer, *trainer_args], env=_environment(),
                                  capture_output=True, text=True)
        if prepared.returncode:
            raise RuntimeError(
                f"Preparing the dataset failed (exit {prepared.returncode}); the trainer's flags are probably "
                f"wrong. Its output:\n{prepared.stdout[-2000:]}{prepared.stderr[-3000:]}"
            )
        print(f"[launcher] {prepared.stdout.strip()} ({time.time() - start:.1f} s)", flush=True)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(num_workers)]
    print(f"[launcher] cluster: {json.dumps(addresses)}; logs in {log_dir}", flush=True)
    processes, threads, logs = [], [], []
    lock = threading.Lock()
    start = time.time()
    for index in range(num_workers):
        log_path = os.path.join(log_dir, f"worker_{index}.log")
        process = subprocess.Popen(
            [sys.executable, trainer, *trainer_args, "--strategy=multi_worker"],
            env=_environment(TF_CONFIG=make_tf_config(addresses, index)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        thread = threading.Thread(target=_stream, args=(process, f"[worker {index}]", log_path, lock), daemon=True)
        thread.start()
        processes.append(process)
        threads.append(thread)
        logs.append(log_path)
    failed = None
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = next((i for i, code in enumerate(codes) if code not in (None, 0)), None)
            if failed is not None or all(code == 0 for code in codes):
                break
            if time.time() - start > timeout:
                print(f"[launcher] timeout after {timeout:.0f} s: stopping all workers", flush=True)
                failed = -1
                break
            time.sleep(0.5)
    finally:  # also on Ctrl-C: never leave workers behind
        _stop(processes)
        for thread in threads:
            thread.join(timeout=10)
    codes = [process.returncode for process in processes]
    print(f"[launcher] exit codes: {codes} after {time.time() - start:.1f} s", flush=True)
    if failed is not None and failed >= 0:
        print(
            f"[launcher] worker {failed} failed (exit {codes[failed]}), so the others were stopped. Last lines "
            f"of {logs[failed]}:\n{_tail(logs[failed])}",
            flush=True,
        )
    return codes


def main(argv):
    codes = launch(FLAGS.trainer, argv[1:], FLAGS.num_workers, FLAGS.worker_logs, FLAGS.timeout, FLAGS.prepare_data)
    if any(codes):
        sys.exit(f"error: multi-worker run failed, worker exit codes {codes}; see {FLAGS.worker_logs}/worker_<i>.log")
    print(f"[launcher] all {len(codes)} workers finished", flush=True)


if __name__ == "__main__":
    app.run(main)
