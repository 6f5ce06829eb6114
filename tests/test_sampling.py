import math

import pytest
import torch

from engine.cpu import ops
from engine.sampling import SamplingParams, apply_penalty, filtered_probs, native_nucleus, sample
from tests.kernels import native


def logits_of(probs):
    return torch.tensor(probs, dtype=torch.float32).log()[None, :]


def kept(probs):
    return set(torch.nonzero(probs[0]).flatten().tolist())


def run(logits, params, n=1, generator=None, history=None):
    """Sample n tokens from one row of logits."""
    return [sample(logits, [params], [generator], [history or []]).token_ids.item()
            for _ in range(n)]


def nucleus_reference(logits, top_p):
    """Straightforward top-p over the fully sorted vocabulary, as a dense mask."""
    probs = logits.softmax(-1)
    vals, ids = probs.sort(-1, descending=True)
    keep_sorted = (vals.cumsum(-1) - vals) < top_p
    return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, ids, keep_sorted)


def dense(probs, ids, vocab):
    if ids is None:
        return probs
    return torch.zeros(probs.shape[0], vocab).scatter(-1, ids, probs)


def test_top_k_keeps_exactly_k():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.5, 0.7, 2.0, -0.3]])
    probs, ids = filtered_probs(logits, top_k=3, top_p=1.0, min_p=0.0)
    assert set(ids[0].tolist()) == {1, 3, 5}
    expected = logits[0, [1, 3, 5]].softmax(-1)
    assert torch.allclose(probs[0], expected)
    torch.manual_seed(0)
    assert set(run(logits, SamplingParams(top_k=3, temperature=5.0), n=300)) == {1, 3, 5}


def test_top_p_hand_computed_nucleus():
    logits = logits_of([0.1, 0.5, 0.15, 0.25])
    # sorted: 0.5, 0.25 (cum 0.75), 0.15 (cum 0.9), 0.1
    probs, ids = filtered_probs(logits, top_k=-1, top_p=0.7, min_p=0.0)
    probs = dense(probs, ids, 4)
    assert kept(probs) == {1, 3}
    assert torch.allclose(probs[0], torch.tensor([0, 0.5 / 0.75, 0, 0.25 / 0.75]))
    probs, ids = filtered_probs(logits, top_k=-1, top_p=0.8, min_p=0.0)
    assert kept(dense(probs, ids, 4)) == {1, 2, 3}
    # a top_p below the top probability keeps the top token alone
    probs, ids = filtered_probs(logits, top_k=-1, top_p=0.01, min_p=0.0)
    assert kept(dense(probs, ids, 4)) == {1}


@pytest.mark.parametrize("spread", [0.5, 3.0, 20.0])  # full sort, top-1024, top-64 probes
def test_top_p_large_vocab_matches_full_sort(spread):
    torch.manual_seed(1)
    logits = torch.randn(3, 5000) * spread
    probs, ids = filtered_probs(logits, top_k=-1, top_p=0.9, min_p=0.0)
    got = dense(probs, ids, 5000)
    want = nucleus_reference(logits, 0.9)
    assert torch.equal(got > 0, want)
    assert torch.allclose(got, torch.where(want, logits, -math.inf).softmax(-1), atol=1e-6)


def test_min_p_relative_to_top_token():
    logits = logits_of([0.5, 0.3, 0.15, 0.05])
    probs, _ = filtered_probs(logits, top_k=-1, top_p=1.0, min_p=0.2)  # floor 0.1
    assert kept(probs) == {0, 1, 2}
    assert torch.allclose(probs[0], torch.tensor([0.5, 0.3, 0.15, 0]) / 0.95)
    probs, _ = filtered_probs(logits, top_k=-1, top_p=1.0, min_p=0.7)  # floor 0.35
    assert kept(probs) == {0}


def test_repetition_penalty_positive_and_negative():
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
    before = logits.clone()
    out = apply_penalty(logits, [SamplingParams(repetition_penalty=2.0)], [[0, 1, 1, 0]])
    assert torch.equal(out, torch.tensor([[1.0, -4.0, 1.0, 0.5]]))
    assert torch.equal(logits, before)  # the caller's logits are not modified
    # a penalty < 1 rewards repeats
    out = apply_penalty(logits, [SamplingParams(repetition_penalty=0.5)], [torch.tensor([0, 1])])
    assert torch.equal(out, torch.tensor([[4.0, -1.0, 1.0, 0.5]]))


def test_greedy_is_argmax():
    torch.manual_seed(0)
    logits = torch.randn(5, 1000)
    params = [SamplingParams(temperature=0)] * 4 + [SamplingParams(top_k=1, temperature=3.0)]
    for _ in range(5):
        out = sample(logits, params, [None] * 5, [[]] * 5)
        assert torch.equal(out.token_ids, logits.argmax(-1))


def test_order_penalty_before_greedy_and_raw_logprobs():
    logits = torch.tensor([[2.0, 1.5, -1.0]])
    out = sample(logits, [SamplingParams(temperature=0, repetition_penalty=2.0)], [None], [[0]])
    assert out.token_ids.item() == 1  # 2.0 / 2 = 1.0 < 1.5
    # the reported logprob is the raw model's, not the penalised distribution's
    assert out.logprobs.item() == pytest.approx(logits.log_softmax(-1)[0, 1].item())


def test_order_penalty_before_top_k():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    params = SamplingParams(top_k=2, repetition_penalty=4.0)
    torch.manual_seed(0)
    # penalised first: [0.75, 2, 1, 0] -> top-2 is {1, 2}; top-2 first would have kept token 0
    assert set(run(logits, params, n=200, history=[0])) == {1, 2}


def test_order_temperature_before_min_p():
    logits = torch.tensor([[0.0, -2.0, -4.0]])
    # at T=1 token 2 has ratio e^-4 < 0.1 to the top token; at T=2 its ratio is e^-2 > 0.1
    torch.manual_seed(0)
    assert set(run(logits, SamplingParams(min_p=0.1), n=400)) == {0, 1}
    assert set(run(logits, SamplingParams(min_p=0.1, temperature=2.0), n=400)) == {0, 1, 2}


def test_order_min_p_and_top_k_before_top_p():
    logits = logits_of([0.4, 0.3, 0.2, 0.1])
    # min_p 0.4 drops token 3; renormalised [.444, .333, .222]: top_p 0.75 stops after token 1.
    # top_p on the unfiltered distribution would have kept token 2 (0.4 + 0.3 < 0.75).
    probs, ids = filtered_probs(logits, top_k=-1, top_p=0.75, min_p=0.4)
    assert kept(dense(probs, ids, 4)) == {0, 1}
    probs, ids = filtered_probs(logits, top_k=3, top_p=0.75, min_p=0.0)
    assert kept(dense(probs, ids, 4)) == {0, 1}


def test_seeded_rows_are_reproducible():
    logits = torch.zeros(1, 1000)
    a = run(logits, SamplingParams(seed=7), n=50, generator=torch.Generator().manual_seed(7))
    b = run(logits, SamplingParams(seed=7), n=50, generator=torch.Generator().manual_seed(7))
    c = run(logits, SamplingParams(seed=8), n=50, generator=torch.Generator().manual_seed(8))
    assert a == b
    assert a != c
    assert len(set(a)) > 30  # a real stream, not a constant


@pytest.mark.parametrize("settings", [dict(), dict(top_p=0.9), dict(top_k=50, min_p=0.01)])
def test_seeded_row_unaffected_by_batch(settings):
    torch.manual_seed(3)
    row = torch.randn(1, 4000) * 3
    params = SamplingParams(seed=11, temperature=0.8, **settings)
    solo = run(row, params, n=20, generator=torch.Generator().manual_seed(11))

    g = torch.Generator().manual_seed(11)
    others = [SamplingParams(temperature=0.8, **settings), SamplingParams(temperature=0),
              SamplingParams(top_p=0.5, seed=1),
              SamplingParams(seed=5, temperature=0.8, **settings)]
    batched = []
    for _ in range(20):
        # neighbours change every step, share the row's settings, or have seeds of their own
        # (with its settings too: drawn in one call with it where the native sampler draws them)
        logits = torch.cat([torch.randn(2, 4000) * 10, row, torch.randn(2, 4000)])
        gens = [None, None, g, torch.Generator().manual_seed(1), torch.Generator().manual_seed(5)]
        out = sample(logits, [others[0], others[1], params, others[2], others[3]], gens, [[]] * 5)
        batched.append(out.token_ids[2].item())
    assert batched == solo


def test_sampling_frequencies_match_processed_distribution():
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.2, -0.5, -3.0, 1.2]])
    params = SamplingParams(temperature=0.7, top_k=5, top_p=0.9, min_p=0.05)
    scaled, ids = filtered_probs(logits / 0.7, 5, 0.9, 0.05)
    expected = dense(scaled, ids, 7)[0]
    n = 4000
    torch.manual_seed(0)
    out = sample(logits.expand(n, -1), [params] * n, [None] * n, [[]] * n)
    g = torch.Generator().manual_seed(0)
    seeded = torch.tensor(run(logits, params, n=1000, generator=g))
    for draws in (out.token_ids, seeded):
        counts = torch.bincount(draws, minlength=7).float()
        assert set(torch.nonzero(counts).flatten().tolist()) <= kept(expected[None])
        want = expected * len(draws)
        mask = want > 0
        chi2 = ((counts[mask] - want[mask]) ** 2 / want[mask]).sum().item()
        assert chi2 < 30  # <= 4 degrees of freedom: p < 1e-5 by chance


def inverse_cdf_reference(row, temperature, top_p, u):
    """The token at u, in float64: likeliest first (ties: the lower id) within the top_p nucleus,
    or the whole row in id order at top_p 1; and how far u's point is from the nearest step."""
    probs = (row.double() / temperature).softmax(-1)
    if top_p < 1:
        order = sorted(range(len(probs)), key=lambda i: (-probs[i].item(), i))
        ids = torch.tensor(order)
        vals = probs[ids]
        ids, vals = ids[(vals.cumsum(-1) - vals) < top_p], vals[(vals.cumsum(-1) - vals) < top_p]
    else:
        ids, vals = torch.arange(len(probs)), probs
    cdf = vals.cumsum(-1)
    at = u * cdf[-1]
    pick = min(int(torch.searchsorted(cdf, at, right=True)), len(ids) - 1)
    return int(ids[pick]), float((cdf - at).abs().min() / cdf[-1])


@native
@pytest.mark.parametrize("spread, temperature", [(0.5, 0.6), (3.0, 1.3), (20.0, 0.6), (3.0, 0.6)])
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 1.0])
def test_native_sampler_draws_the_reference_token(spread, temperature, top_p):
    torch.manual_seed(2)
    logits = torch.randn(3, 3000) * spread
    logits[2, :50] = logits[2].max()  # ties at the top: the lower id first
    u = torch.rand(60)
    for b in range(3):
        rows = torch.full((60,), b, dtype=torch.long)
        got = ops.nucleus(logits, rows, temperature, top_p, u).tolist()
        for i, x in enumerate(u.tolist()):
            want, margin = inverse_cdf_reference(logits[b], temperature, top_p, x)
            if margin > 1e-5:  # not on a step of the CDF, where rounding may pick either side
                assert got[i] == want


@native
def test_temperature_top_p_rows_take_the_native_sampler_with_the_same_distribution():
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.2, -0.5, -3.0, 1.2]])
    params = SamplingParams(temperature=0.7, top_p=0.9)
    assert native_nucleus(logits, params.top_k, params.min_p)
    assert not native_nucleus(logits, 3, 0.0) and not native_nucleus(logits, -1, 0.05)
    scaled, ids = filtered_probs(logits / 0.7, -1, 0.9, 0.0)
    expected = dense(scaled, ids, 7)[0]
    torch.manual_seed(0)
    out = sample(logits.expand(4000, -1), [params] * 4000, [None] * 4000, [[]] * 4000)
    g = torch.Generator().manual_seed(0)
    seeded = torch.tensor(run(logits, SamplingParams(temperature=0.7, top_p=0.9, seed=0), n=1000,
                              generator=g))
    for draws in (out.token_ids, seeded):
        counts = torch.bincount(draws, minlength=7).float()
        assert set(torch.nonzero(counts).flatten().tolist()) <= kept(expected[None])
        want = expected * len(draws)
        mask = want > 0
        assert ((counts[mask] - want[mask]) ** 2 / want[mask]).sum().item() < 30


def test_confidence_hand_computed():
    logits = torch.arange(25, dtype=torch.float32)[None, :]
    log_z = math.log(sum(math.exp(i) for i in range(25)))
    top20 = range(5, 25)
    want = sum(log_z - i for i in top20) / 20
    out = sample(logits, [SamplingParams(temperature=0)], [None], [[]])
    assert out.confidence.item() == pytest.approx(want, rel=1e-5)
    uniform = sample(torch.zeros(2, 30), [SamplingParams()] * 2, [None] * 2, [[]] * 2)
    assert torch.allclose(uniform.confidence, torch.full((2,), math.log(30)))
    assert torch.allclose(uniform.logprobs, torch.full((2,), -math.log(30)))


@pytest.mark.parametrize("bad", [
    dict(temperature=-0.1), dict(top_k=-2), dict(top_k=2.5), dict(top_p=0), dict(top_p=1.5),
    dict(min_p=-0.1), dict(min_p=1.1), dict(repetition_penalty=0), dict(max_tokens=0),
    dict(seed="x"), dict(stop=[""]), dict(stop=[3]), dict(stop_token_ids=[-1]),
])
def test_invalid_params_raise(bad):
    field = next(iter(bad))
    with pytest.raises(ValueError, match=field):
        SamplingParams(**bad)


def test_stop_accepts_a_single_string():
    assert SamplingParams(stop="</answer>").stop == ["</answer>"]
