"""The trained digits test bed (digits_testbed/), reduced: a few hundred training steps, a few
samples. Training is deterministic, the model drives search/ through the Denoiser protocol, and
random search with the conditioned-class logit raises that logit and the held-out IS."""
import pytest
import torch

from digits_testbed import Bed, train  # needs scikit-learn (requirements-dev.txt)
from digits_testbed.bed import REDUCED
from search import RandomSearch
from search.protocol import Denoiser


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DIGITS_TESTBED_CACHE", str(tmp_path_factory.mktemp("digits_cache")))
    yield Bed.load(reduced=True)
    mp.undo()


def test_training_is_deterministic(bed):
    # the fixture trained and cached once; training again from scratch gives the same weights bit for bit
    cached = train.cached(REDUCED["denoiser"])["final"]
    again = train.cached(REDUCED["denoiser"], retrain=True)["final"]
    assert cached.keys() == again.keys()
    for k in cached:
        assert torch.equal(cached[k], again[k]), k
    loaded = bed.nets["model"].state_dict()
    assert all(torch.equal(loaded[k], again[k]) for k in again)


def test_denoiser_protocol_and_reproducible_samples(bed):
    den = bed.denoiser("model", y=3, steps=6)
    assert isinstance(den, Denoiser)
    assert den.cost(0, den.last) == 11
    a = RandomSearch(n=2).run(den, seed=5)
    b = RandomSearch(n=2).run(bed.denoiser("model", y=3, steps=6), seed=5)
    assert torch.equal(a.best_latent, b.best_latent)
    assert torch.isfinite(a.finals).all() and a.finals.abs().max() > 0.1


def test_random_search_with_logit_raises_logit_and_is(bed):
    per_class = 6
    ys, score1, score4, x1, x4 = [], [], [], [], []
    for c in range(10):
        den = bed.denoiser("model", y=c, steps=6, verifier="logit")
        for i in range(per_class):
            r = RandomSearch(n=4).run(den, seed=1000 * c + 10 * i, max_batch=4)
            # candidate 0 is what plain sampling (1x) gives for that seed
            score1.append(r.final_scores[0])
            score4.append(r.best_score)
            x1.append(r.finals[:1])
            x4.append(r.best_latent)
            ys.append(c)
    y = torch.tensor(ys)
    assert sum(score4) / len(score4) > sum(score1) / len(score1) + 0.5, (score1, score4)
    m1, m4 = bed.metrics(torch.cat(x1), y), bed.metrics(torch.cat(x4), y)
    assert m4["is"] > m1["is"], (m1, m4)
