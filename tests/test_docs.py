"""Generated documentation stays in step with the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_supported_op_table_is_the_one_the_registry_generates():
    # a fresh process: converters that other tests register are not the package's
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_converter_table.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
