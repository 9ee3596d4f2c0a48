"""The batcher: chunks rows, halves the batch on out-of-memory (and stays halved), re-raises
anything else, and gives the same result whatever the chunking."""
import pytest
import torch

from search.batching import Batcher, is_oom
from search.random_search import RandomSearch
from tests.analytic import AnalyticDenoiser


class FlakyModel:
    """Fails with an out-of-memory error whenever it is given more than ``fits`` rows."""

    def __init__(self, fits, exc=torch.OutOfMemoryError):
        self.fits, self.exc, self.calls = fits, exc, []

    def __call__(self, x, seeds=None):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.fits:
            raise self.exc("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x * 2


def test_oom_halves_the_batch_and_keeps_it_halved():
    b = Batcher(8)
    model = FlakyModel(fits=3)
    x = torch.arange(20.0).reshape(20, 1)
    out = b(model, x, seeds=list(range(20)))
    assert torch.equal(out, x * 2)
    assert b.limit == 2 and b.oom_retries == 2  # 8 -> 4 -> 2
    assert model.calls[:3] == [8, 4, 2] and set(model.calls[3:]) <= {2}


def test_runtime_error_saying_out_of_memory_counts_as_oom():
    assert is_oom(RuntimeError("CUDA error: out of memory"))
    b = Batcher(4)
    out = b(FlakyModel(fits=1, exc=RuntimeError), torch.ones(3, 2))
    assert out.shape == (3, 2) and b.limit == 1


def test_other_errors_and_oom_at_batch_one_are_raised():
    with pytest.raises(ValueError):
        Batcher(4)(lambda x: (_ for _ in ()).throw(ValueError("bad input")), torch.ones(2, 1))
    with pytest.raises(torch.OutOfMemoryError):
        Batcher(4)(FlakyModel(fits=0), torch.ones(2, 1))
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(0)


def test_search_result_is_unchanged_by_an_oom_midway():
    """A search whose model runs out of memory at batch 4 gives the bit-identical result."""
    ref = RandomSearch(n=6).run(AnalyticDenoiser(steps=5), seed=9, max_batch=4)
    den = AnalyticDenoiser(steps=5)
    real = den.x0_model
    calls = {"n": 0, "oom": 0}

    def flaky(x, sigma):
        calls["n"] += 1
        if x.shape[0] > 2 and calls["n"] == 3:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("out of memory")
        return real(x, sigma)

    den.x0_model = flaky
    res = RandomSearch(n=6).run(den, seed=9, max_batch=4)
    assert calls["oom"] == 1, "the simulated out-of-memory error never fired"
    assert torch.equal(res.best_latent, ref.best_latent)
    assert [c.score for c in res.candidates] == [c.score for c in ref.candidates]
