"""Every shell command in README.md's ```sh blocks runs, in order, as a reader would paste it.

The quickstart blocks run for real with ``bash -e`` from the repository root, as written, with
only these substitutions: ``/tmp/evergreen-quickstart`` becomes a temp folder, port 8080 a free
port, and ``.venv/bin/activate`` the environment running the tests (the same one when they run
from the repository's ``.venv``). A trap stops any server a failed command leaves behind.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass

import pytest

from cli.process import BIN, ROOT, child_env, free_port

README = ROOT / "README.md"
QUICKSTART_HOME = "/tmp/evergreen-quickstart"
QUICKSTART_PORT = "8080"
# `make demo` and `make test` are what CI runs itself (and `make test` runs this file), so the
# setup block is checked to hold just those and is not run here.
CI_COMMANDS = ["make demo", "make test"]
MARK = "@@ command"

PRELUDE = r"""
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT  # no server outlives a failed command
"""


@dataclass(frozen=True)
class Command:
    text: str  # as written, comments included
    words: tuple[str, ...]  # as the shell splits it, comments dropped


def sh_blocks(text: str) -> list[list[Command]]:
    """The commands of each ```sh block, multi-line commands joined."""
    return [commands(block) for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)]


def commands(block: str) -> list[Command]:
    found: list[Command] = []
    pending: list[str] = []
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        text = "\n".join(pending)
        try:
            words = shlex.split(text, comments=True)
        except ValueError:  # a quote still open: the command goes on over the next line
            continue
        if not text.endswith("\\"):
            found.append(Command(text, tuple(words)))
            pending = []
    assert not pending, f"unterminated command in README.md: {pending}"
    return found


def is_ci(block: list[Command]) -> bool:
    return any(command.words[0] == "make" for command in block)


def test_setup_block_holds_only_what_ci_runs() -> None:
    setup = [block for block in sh_blocks(README.read_text()) if is_ci(block)]
    assert [[shlex.join(c.words) for c in block] for block in setup] == [CI_COMMANDS], (
        "a new setup command needs running in tests/test_readme.py"
    )


@dataclass
class Quickstart:
    commands: list[Command]
    outputs: dict[int, str]  # command index -> what it printed on stdout
    returncode: int
    stderr: str
    up_log: str

    def output_of(self, pattern: str) -> list[str]:
        return [self.outputs[i] for i, c in enumerate(self.commands) if re.search(pattern, c.text)]


def script(quickstart: list[Command]) -> str:
    """The quickstart as a bash script: each command as written, after a marker line."""
    lines = [PRELUDE]
    for index, command in enumerate(quickstart):
        lines += [f"echo; echo '{MARK} {index}'", command.text]
    lines.append(f"echo; echo '{MARK} end'")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Quickstart:
    if shutil.which("curl") is None:
        pytest.fail("README.md's quickstart calls `curl`; install it to run this test")
    root = tmp_path_factory.mktemp("quickstart")
    home, port = root / "home", free_port()
    readme = (
        README.read_text()
        .replace(QUICKSTART_HOME, str(home))
        .replace(QUICKSTART_PORT, str(port))
        .replace(".venv/bin/activate", str(BIN / "activate"))
    )
    blocks = [block for block in sh_blocks(readme) if not is_ci(block)]
    assert blocks, "README.md has no quickstart block"
    quickstart = [command for block in blocks for command in block]
    env = child_env(home, tmp_path_factory.getbasetemp() / "pycache")
    text = script(quickstart)
    (root / "quickstart.sh").write_text(text)
    bash = subprocess.Popen(
        ["bash", "-e", str(root / "quickstart.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the script and the servers it starts
    )
    try:
        stdout, stderr = bash.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(bash.pid, signal.SIGKILL)
        stdout, stderr = bash.communicate()
    outputs: dict[int, str] = {}
    for chunk in stdout.split(f"\n{MARK} ")[1:]:
        index, _, output = chunk.partition("\n")
        if index != "end":
            outputs[int(index)] = output.rstrip("\n")
    up_log = home / "up.log"
    return Quickstart(
        quickstart,
        outputs,
        bash.returncode,
        stderr,
        up_log.read_text() if up_log.exists() else "",
    )


@pytest.mark.slow
def test_quickstart_runs_every_command(quickstart: Quickstart) -> None:
    ran, total = len(quickstart.outputs), len(quickstart.commands)
    last = quickstart.commands[ran - 1].text if ran else "(none)"
    assert quickstart.returncode == 0, (
        f"bash -e stopped after {ran} of {total} commands, the last: {last}\n{quickstart.stderr}"
    )
    assert ran == total


@pytest.mark.slow
def test_quickstart_commands_print_what_the_readme_says(quickstart: Quickstart) -> None:
    [snapshot] = quickstart.output_of(r"^evergreen data snapshot ")
    assert re.fullmatch(r"ds-[0-9a-f]{16}", snapshot)
    [run] = quickstart.output_of(r"^evergreen run ")
    assert re.search(r"^run run-\w+ succeeded$", run, re.M), run
    [promote] = quickstart.output_of(r"^evergreen models promote ")
    assert promote == "bike-demand version 1 is now in production"
    [trigger] = quickstart.output_of(r"^evergreen trigger ")
    assert re.fullmatch(r"queued evt-\w+", trigger)


@pytest.mark.slow
def test_quickstart_curl_answers(quickstart: Quickstart) -> None:
    [metadata] = quickstart.output_of(r"^curl .*/v2/models/bike-demand$")
    assert json.loads(metadata)["name"] == "bike-demand"
    [infer] = quickstart.output_of(r"^curl .*/infer")
    [output] = json.loads(infer)["outputs"]
    assert output["shape"] == [1]
    assert output["data"][0] > 0


@pytest.mark.slow
def test_quickstart_up_runs_the_triggered_retrain(quickstart: Quickstart) -> None:
    assert re.search(r"^run run-\w+ (succeeded|failed)", quickstart.up_log, re.M)


@pytest.mark.slow
def test_quickstart_triggered_retrain_succeeds(quickstart: Quickstart) -> None:
    assert re.search(r"^run run-\w+ succeeded", quickstart.up_log, re.M), quickstart.up_log
