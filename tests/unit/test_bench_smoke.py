"""The analytic benchmarks run end to end in smoke mode and write sane JSON and a PNG."""
import json
import math

import pytest

from bench import hacking, scaling


def finite_numbers(obj):
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), obj
    elif isinstance(obj, dict):
        for v in obj.values():
            finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            finite_numbers(v)


def test_scaling_smoke(tmp_path, capsys):
    scaling.main(["--smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert (tmp_path / "scaling.png").stat().st_size > 1000
    assert data["mode"] == "smoke" and data["elapsed_s"] < 20
    finite_numbers(data)
    assert data["configs"]
    for cfg in data["configs"].values():
        assert set(cfg["algorithms"]) == {"random", "zero_order", "paths", "particles", "more_steps"}
        n = len(cfg["budgets"])
        assert n >= 2
        for rows in cfg["algorithms"].values():
            for key in ("nfe", "score", "sem", "std", "diversity", "verifier_calls"):
                assert len(rows[key]) == n, key
            assert all(nfe <= b for nfe, b in zip(rows["nfe"], cfg["budgets"]))
        # at one trajectory every method is the plain sample
        assert len({round(r["score"][0], 6) for r in cfg["algorithms"].values()}) == 1
    assert "more_steps" in capsys.readouterr().out


def test_hacking_smoke(tmp_path):
    hacking.main(["--smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "hacking.json").read_text())
    assert (tmp_path / "hacking.png").stat().st_size > 1000
    assert data["mode"] == "smoke" and data["elapsed_s"] < 20
    finite_numbers(data)
    assert set(data["algorithms"]) == {"random", "zero_order", "paths", "particles"}
    for rows in data["algorithms"].values():
        for key in ("searched", "held_out", "oracle_held_out", "diversity", "nfe"):
            assert len(rows[key]) == len(data["budgets"]), key
        assert rows["held_out_peak_budget"] in data["budgets"]
        assert all(d >= 0 for d in rows["diversity"])


@pytest.mark.parametrize("mod", [scaling, hacking])
def test_modes_are_sized_as_promised(mod):
    assert len(mod.FULL["mults"]) >= 5 and mod.FULL["seeds"] >= 20


def test_particles_tune_and_travel_smoke(tmp_path):
    from bench import particles_travel, particles_tune
    tune = particles_tune.main(["--smoke", "--out", str(tmp_path)])
    assert set(tune["chosen"]) == {"lam", "resample_every", "potential"} and len(tune["settings"]) == 2
    data = particles_travel.main(["--smoke", "--out", str(tmp_path)])
    assert (tmp_path / "particles_travel.png").stat().st_size > 1000
    finite_numbers(json.loads((tmp_path / "particles_travel.json").read_text()))
    assert set(data["beds"]) == {"analytic", "uneven", "digits"}
    for bed in data["beds"].values():
        for i, b in enumerate(bed["budgets"]):
            assert bed["diff"][i]["mean"] == pytest.approx(bed["particles"][i]["mean"] - bed["best_of_n"][i]["mean"])
            assert bed["wins"][i] + bed["losses"][i] <= bed["runs"]
