"""The README's promises: two commands on top, and a drop-in example that runs as written."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        return handle.read()


def test_readme_has_exactly_two_bash_commands_and_ci_runs_the_test_one():
    commands = re.findall(r"```bash\n(.*?)\n```", _readme(), flags=re.S)
    assert len(commands) == 2, commands
    assert "trainers/qlae.py --flagfile=trainers/flags/quickstart.flags" in commands[0]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as handle:
        assert commands[1].strip() in handle.read()
    assert os.path.exists(os.path.join(ROOT, "trainers", "flags", "quickstart.flags"))


def test_drop_in_example_runs_as_written(tmp_path):
    (example,) = re.findall(r"```python\n(.*?)\n```", _readme(), flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "quantizer_perplexity" in completed.stdout
