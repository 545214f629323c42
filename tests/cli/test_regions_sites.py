"""`actcode regions` follows the file's extraction: op sites (F.relu) and custom-model checkpoints (issue 12).

A network that calls ``F.relu`` / ``torch.relu`` is extracted with the default ``--sites ops``;
``regions`` must find the same op sites and give exactly the results of the same network
written with ``nn.ReLU`` modules (same weights, so the same codes, walks and stars). A
checkpoint of a custom model runs its recorded factory only when named or trusted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from actcode.checkpoints import make_payload, write_checkpoint
from actcode.config import ModelSpec, TrainConfig
from actcode.extraction.api import extract
from actcode.extraction.user import extract_user_model
from actcode.io import open_codes
from actcode.regions.api import RegionsConfig, regions_file
from tests.reliability._run import error_lines, run

NETS = """
import torch
from torch import nn
from torch.nn import functional as F


class Functional(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 12), nn.Linear(12, 10), nn.Linear(10, n_classes)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


class Modules(Functional):
    def __init__(self, n_classes):
        super().__init__(n_classes)
        self.act1, self.act2 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x.flatten(1))))))


def functional(input_shape, n_classes):
    return Functional(n_classes)


def modules(input_shape, n_classes):
    return Modules(n_classes)
"""

#: Both networks' per-site scopes, in forward order.
SCOPES = {"layer:(root):relu#0": "layer:act1", "layer:(root):relu#1": "layer:act2"}
ARGS = ["--segments", "4", "--max-rows", "30", "--directions", "4", "--batch", "24", "--json"]


def _records(stdout: str) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = {}
    for line in stdout.splitlines():
        r = json.loads(line)
        value = float(r["value_text"]) if r["value"] is None else float(r["value"])
        out[(r["split"], SCOPES.get(r["scope"], r["scope"]), r["metric"])] = value
    return out


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sites")
    (d / "nets.py").write_text(NETS)
    torch.manual_seed(0)
    net = nn.Sequential()
    net.fc1, net.fc2, net.fc3 = nn.Linear(64, 12), nn.Linear(12, 10), nn.Linear(10, 10)
    torch.save(net.state_dict(), d / "w.pt")
    return d


def test_functional_relu_file_gives_the_results_of_the_module_twin(nets: Path, tmp_path: Path) -> None:
    codes, names = {}, {}
    for name in ("functional", "modules"):  # default settings: --sites ops
        model = f"{nets / 'nets.py'}:{name}"
        codes[name] = extract_user_model(
            model, weights=nets / "w.pt", splits="test", output=tmp_path / f"{name}.h5", device="cpu"
        )
        with open_codes(codes[name]) as cf:
            assert cf.provenance["extract"]["sites"] == "ops"
            names[name] = [la.name for la in cf.layers]
    assert names == {"functional": ["(root):relu#0", "(root):relu#1"], "modules": ["act1", "act2"]}
    model = f"{nets / 'nets.py'}:functional"
    r = run("regions", codes["functional"], "--model", model, "--weights", nets / "w.pt", *ARGS)
    assert r.returncode == 0, r.stderr
    fun = _records(r.stdout)
    with open_codes(codes["functional"]) as cf:
        assert cf.result_params("regions")["site_mode"] == "ops"
        assert cf.result_params("regions")["analyses"]["plane"]["sites"] == names["functional"]
    cfg = RegionsConfig(segments=4, max_rows=30, directions=4, batch=24, device="cpu",
                        model=f"{nets / 'nets.py'}:modules", weights=str(nets / "w.pt"))  # fmt: skip
    _, table = regions_file(codes["modules"], cfg)
    mod = {(sp, sc, m): v for sp, sc, m, v in table.rows()}
    metrics = {m for _, _, m in fun}
    assert {"lines_different_regions_mean", "local_complexity_mean", "naswot", "tenas_distinct"} <= metrics
    assert "plane_regions" in metrics
    assert {s for _, s, _ in fun} == {"all", "layer:act1", "layer:act2"}
    assert fun == mod
    assert fun[("test", "all", "lines_different_regions_mean")] > 1  # the chords cross regions
    assert fun[("test", "all", "local_complexity_mean")] > 0


def _custom_checkpoint(path: Path, factory: str) -> Path:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 9), nn.ReLU(), nn.Linear(9, 10))
    config = TrainConfig(model=ModelSpec(name="custom", factory=factory), epochs=1, save_at=(1,))
    idx = np.arange(40, dtype=np.int64)
    payload = make_payload(
        config=config, epoch=1, state_dict=net.state_dict(), train_indices=idx, val_indices=idx[:0],
        train_labels=idx % 10, noisy_indices=idx[:0], history=[], metrics={}, input_shape=(1, 8, 8),
        n_classes=10,
    )  # fmt: skip
    return write_checkpoint(path, payload)


def test_custom_factory_checkpoint_needs_naming_or_trust(tmp_path: Path) -> None:
    marker = tmp_path / "RAN"
    (tmp_path / "mine.py").write_text(
        "from pathlib import Path\nfrom torch import nn\n\n"
        "def make(input_shape, n_classes):\n"
        f"    Path({str(marker)!r}).touch()\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 9), nn.ReLU(), nn.Linear(9, n_classes))\n"
    )
    spec = f"{tmp_path / 'mine.py'}:make"
    ck = _custom_checkpoint(tmp_path / "ck.pt", spec)
    code = tmp_path / "c.h5"
    extract(ck, model=spec, splits="test", output=code, device="cpu")
    marker.unlink()
    args = ["--analyses", "kernel,local", "--max-rows", "20", "--directions", "2", "--batch", "16"]
    refused = run("regions", code, *args)
    assert refused.returncode == 5, refused.stderr
    assert refused.stdout == ""
    assert [ln for ln in refused.stderr.splitlines() if ln.strip()] == error_lines(refused.stderr, "regions")
    (line,) = error_lines(refused.stderr, "regions")
    assert "--trust-model-code" in line
    assert not marker.exists()  # the recorded factory did not run
    out = tmp_path / "r.h5"
    ok = run("regions", code, *args, "-o", out, "--model", spec)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"{out}\n"
    assert marker.exists()  # the named factory ran
    with open_codes(out) as cf:
        table = cf.results("regions")
        assert table is not None
        assert table.get("test", "all", "tenas_distinct") > 1
        assert cf.result_params("regions")["source"] == {"checkpoint": str(ck), "model": spec}
    # --trust-model-code runs the recorded factory unnamed (in-process: same code path as the CLI)
    marker.unlink()
    cfg = RegionsConfig(
        analyses=("local", "kernel"), max_rows=20, directions=2, batch=16, trust_model_code=True
    )
    _, trusted = regions_file(code, cfg, output=tmp_path / "t.h5")
    assert marker.exists()
    assert sorted(trusted.rows()) == sorted(table.rows())
