"""tests/device/check.sh in its CPU mode, as CI runs it, so that the GPU check cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("check.sh")


def test_check_sh_cpu_mode(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "ACTCODE_CHECK_CPU": "1"}
    r = subprocess.run(["bash", str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "device-check.json"
    assert r.stdout.strip() == str(out)
    res = json.loads(out.read_text())
    assert res["mode"] == "cpu"
    assert res["ok"] is True
    for name in ("train", "extract", "knn", "bench_train", "bench_extract", "bench_knn"):
        assert res[name]["ok"] is True, (name, res[name])
    assert set(res["train"]) >= {"mlp_digits", "resnet20_cifar_like"}
    for run in ("mlp_digits", "resnet20_cifar_like"):
        ex = res["extract"][run]
        assert ex["bits"] > 0
        assert ex["differing_bits"] == 0  # two CPU extractions: bit for bit the same
    cases = [v for v in res["knn"].values() if isinstance(v, dict)]
    assert cases
    assert all(c["topk_equal"] and c["nearest_class_equal"] for c in cases)
    assert 0 < res["bench_knn"]["share_of_int8_peak"]
    for bench, target in (("bench_train", 1.1), ("bench_extract", 1.3)):
        assert res[bench]["ratio"] > 0
        assert res[bench]["met_target"] is (res[bench]["ratio"] <= target)
    ex = res["bench_extract"]  # default settings (deflate in threads beside the pass): issue 21's 1.1
    assert ex["default_ratio"] > 0
    assert ex["default_met_target"] is (ex["default_ratio"] <= 1.1)
