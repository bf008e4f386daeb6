"""Run tuning/weight_decay.py as a KerasTuner chief and N workers, local processes on 127.0.0.1.

    python tuning/launch_distributed.py --output_dir=runs/tuning_distributed -- \
        --flagfile=tuning/flags/quick.flags --max_trials=4

Everything after `--` goes to every process unchanged, so chief and workers build the same search space.
The launcher picks a free port, clears `<output_dir>/keras_tuner` (the directory chief and workers
share), starts the chief (KERASTUNER_TUNER_ID=chief) and waits until its oracle server listens, then
starts the workers (tuner0, tuner1, ...) with --nooverwrite so none deletes the shared folder, and waits
for all of them. Each process's output goes to `<output_dir>/logs/<id>.log`; the launcher's own account
(commands, ports, exit codes, elapsed times) to `<output_dir>/logs/launcher.log`. The chief writes
`results.md`, `results.csv` and `objective_vs_weight_decay.png` into <output_dir>. On a timeout or a
failed process the launcher stops the processes it started and exits non-zero.

On several machines, run the same command line on each with KERASTUNER_ORACLE_IP set to the chief's
address and a shared --directory (tuning/README.md).
"""

import os
import shutil
import socket
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tuning", "weight_decay.py")

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/tuning_distributed", "Results, logs/ and the shared keras_tuner/ folder.")
flags.DEFINE_integer("num_workers", 2, "Worker processes (tuner0, tuner1, ...).", lower_bound=1)
flags.DEFINE_string("project_name", "weight_decay_distributed", "KerasTuner project name.")
flags.DEFINE_integer("port", 0, "Oracle port on 127.0.0.1 (0: a free one).", lower_bound=0)
flags.DEFINE_integer("timeout", 1800, "Seconds to wait for all processes before stopping them.", lower_bound=1)
flags.DEFINE_integer("chief_start_timeout", 300, "Seconds to wait for the chief's oracle server.", lower_bound=1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Launcher:
    def __init__(self, output_dir: str):
        self.output_dir = os.path.abspath(output_dir)
        self.log_dir = os.path.join(self.output_dir, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.journal = open(os.path.join(self.log_dir, "launcher.log"), "w", encoding="utf-8")
        self.processes: dict[str, subprocess.Popen] = {}
        self.start = time.time()

    def note(self, message: str) -> None:
        line = f"[launcher {time.time() - self.start:7.1f} s] {message}"
        print(line, flush=True)
        self.journal.write(line + "\n")
        self.journal.flush()

    def start_process(self, tuner_id: str, port: int, arguments: list[str]) -> subprocess.Popen:
        environment = dict(
            os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
            KERASTUNER_ORACLE_PORT=str(port), PYTHONUNBUFFERED="1",
        )
        command = [sys.executable, SCRIPT, *arguments]
        log = open(os.path.join(self.log_dir, f"{tuner_id}.log"), "w", encoding="utf-8")
        self.note(f"start {tuner_id}: {' '.join(command)}")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
        self.processes[tuner_id] = process
        return process

    def stop_all(self) -> None:
        for tuner_id, process in self.processes.items():
            if process.poll() is None:
                self.note(f"stopping {tuner_id} (pid {process.pid})")
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main(argv):
    passed = argv[1:]
    launcher = Launcher(FLAGS.output_dir)
    directory = os.path.join(launcher.output_dir, "keras_tuner")
    if os.path.exists(directory):
        shutil.rmtree(directory)
    port = FLAGS.port or free_port()
    common = [*passed, f"--directory={directory}", f"--project_name={FLAGS.project_name}",
              f"--output_dir={launcher.output_dir}"]
    launcher.note(f"oracle at 127.0.0.1:{port}; shared directory {directory}; {FLAGS.num_workers} workers")

    chief = launcher.start_process("chief", port, [*common, "--overwrite"])
    deadline = time.time() + FLAGS.chief_start_timeout
    while not port_open(port):
        if chief.poll() is not None or time.time() > deadline:
            launcher.note(f"chief did not start its oracle server (exit code {chief.poll()}); see logs/chief.log")
            launcher.stop_all()
            return 1
        time.sleep(0.5)
    launcher.note("chief's oracle server is listening")
    for index in range(FLAGS.num_workers):
        launcher.start_process(f"tuner{index}", port, [*common, "--nooverwrite"])

    deadline = time.time() + FLAGS.timeout
    failed = False
    pending = dict(launcher.processes)
    while pending:
        for tuner_id, process in list(pending.items()):
            code = process.poll()
            if code is not None:
                launcher.note(f"{tuner_id} exited with code {code}")
                failed |= code != 0
                del pending[tuner_id]
        if failed or time.time() > deadline:
            if pending:
                launcher.note("timed out" if not failed else "a process failed; stopping the others")
                launcher.stop_all()
            failed = True
            break
        time.sleep(1.0)
    results = os.path.join(launcher.output_dir, "results.md")
    if os.path.exists(results):
        launcher.note(f"results: {results}")
    launcher.note("done" if not failed else "FAILED; see the logs in " + launcher.log_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
