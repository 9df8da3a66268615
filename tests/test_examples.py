"""Every script in examples/ runs and reports agreement with finite differences."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_agrees(script):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(script.parent.parent), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=script.parent, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "agrees with finite differences" in out.stdout
    assert "DISAGREES" not in out.stdout


def test_three_layer_example_shows_delta_recursion():
    script = next(p for p in EXAMPLES if p.stem == "three_layer_backprop")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(script.parent.parent), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=script.parent, timeout=300).stdout
    assert "δ" in out and "training with the generated gradients" in out


def _readme_sessions() -> list[tuple[str, str]]:
    """Every ``$ matcalc …`` line in README.md's code blocks, with the lines printed after it."""
    import shlex

    out: list[tuple[str, str]] = []
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for block in text.split("```")[1::2]:
        command, lines = None, []
        for line in block.splitlines()[1:] + ["$ "]:
            if line.startswith("$ "):
                if command is not None:
                    out.append((command, "\n".join(lines)))
                command = line[2:] if line[2:].startswith("matcalc ") else None
                lines = []
            elif command is not None:
                lines.append(line)
        assert all(shlex.split(c) for c, _ in out)
    return out


@pytest.mark.parametrize("command, shown", _readme_sessions(), ids=lambda v: v if v.startswith("matcalc") else "")
def test_readme_shows_what_the_command_prints(command, shown, capsys):
    import shlex

    from matcalc import cli

    cli.main(shlex.split(command)[1:])
    assert capsys.readouterr().out.rstrip("\n") == shown
