"""A writer killed with SIGKILL mid-write leaves nothing under the final name, and no damage."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actcode.io import open_codes, validate

WRITER = r"""
import sys, time, numpy as np
from actcode.codes import LayerInfo, layout_layers
from actcode.io import CodeWriter, make_provenance
from actcode.io.atomic import install_signal_handlers
install_signal_handlers()
layers = layout_layers([LayerInfo("fc", "ReLU", (64,))])
with CodeWriter(sys.argv[1], layers, make_provenance(command="kill-test")) as w:
    for i in range(10**6):
        w.append("train", np.zeros((100, 8), np.uint8), np.zeros(100, np.int64))
        if i == 3:
            print("writing", flush=True)
        time.sleep(0.001)
"""

RESULTS = r"""
import sys, numpy as np
from actcode.io import add_results
from actcode.results import ResultTable
import actcode.io.results_io as rio
orig = rio._write_table
def slow(g, table):
    print("writing", flush=True)
    import time; time.sleep(60)
rio._write_table = slow
add_results(sys.argv[1], "measure", ResultTable.from_rows([("train", "all", "redundancy", 0.5)]), params={})
"""


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "writing"
    return p


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_writer_leaves_no_file_under_the_final_name(tmp_path: Path, sig: signal.Signals) -> None:
    final = tmp_path / "out.h5"
    p = _start(WRITER, str(final))
    time.sleep(0.2)
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
    finally:
        p.kill()
    assert p.returncode != 0
    assert not final.exists()
    leftovers = [q.name for q in tmp_path.iterdir()]
    if sig != signal.SIGKILL:  # the signal unwinds the writer, which removes its temporary file
        assert leftovers == [], leftovers
    else:
        assert all(name.startswith(".out.h5.tmp-") for name in leftovers), leftovers


def test_killed_results_write_leaves_the_codes_intact(code_file: Path) -> None:
    before = hashlib.sha256(code_file.read_bytes()).hexdigest()
    p = _start(RESULTS, str(code_file))
    p.send_signal(signal.SIGKILL)
    try:
        p.wait(timeout=30)
    finally:
        p.kill()
    assert hashlib.sha256(code_file.read_bytes()).hexdigest() == before
    validate(code_file)
    with open_codes(code_file) as cf:
        assert cf.result_kinds == []
