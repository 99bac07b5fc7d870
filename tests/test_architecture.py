"""The layers hold: import-linter's contracts (pyproject.toml, [tool.importlinter]) run on this checkout.

A change that breaks a layer (a library module importing the CLI, an import cycle, actionbench importing
paxion_models, ...) fails here with the offending import named in the output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(capsys, monkeypatch):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", [str(REPO), *sys.path])
    # The contracts must check this checkout, not an installed copy of the packages.
    import actionbench

    assert Path(actionbench.__file__).resolve().parent == REPO / "actionbench"
    code = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "BROKEN" not in out and out.count("KEPT") >= 4, out


@pytest.mark.parametrize("module", ["actionbench", "actionbench.probes.build", "actionbench.datasets.ssv2"])
def test_probe_building_imports_no_torch(module):
    """`import actionbench` and probe building stay cheap: no torch import (checked in a fresh process)."""
    import subprocess

    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=False).returncode == 0
