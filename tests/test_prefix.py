"""The prefix cache: a follow-up chat turn prefills only its new tokens, with the same result as
prefilling everything (token for token: the fp32 model); the cache stays within its byte budget,
least recently used out first."""
import pytest
import torch

from engine import SamplingParams
from engine.chat import build_prompt
from engine.prefix import PrefixCache

GREEDY = SamplingParams(temperature=0, max_tokens=20)


@pytest.fixture
def llm(exact_llm):
    return exact_llm


def common(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_follow_up_turn_prefills_only_the_new_tokens(llm):
    chat = [{"role": "user", "content": "Name a large animal that lives in the sea."}]
    first = llm.encode(build_prompt(llm.tokenizer, chat, think=False))
    one = llm.generate([first], GREEDY)[0]
    chat += [{"role": "assistant", "content": one.text},
             {"role": "user", "content": "And one that lives in a desert?"}]
    second = llm.encode(build_prompt(llm.tokenizer, chat, think=False))
    held = first + one.token_ids[:-1]  # the last sampled token never went through the model
    shared = min(common(held, second), len(second) - 1)
    assert shared >= len(first) + len(one.token_ids) // 2  # the prompt and most of the answer

    before = llm.runner.prefilled
    two = llm.generate([second], GREEDY)[0]
    assert llm.runner.prefilled - before == len(second) - shared

    llm.prefix.clear()
    before = llm.runner.prefilled
    assert llm.generate([second], GREEDY)[0].token_ids == two.token_ids
    assert llm.runner.prefilled - before == len(second)


def test_a_repeated_prompt_runs_one_token_and_forks_still_share(llm):
    prompt = llm.encode("A list of the planets of the solar system, in order from the Sun:")
    want = llm.generate([prompt], GREEDY)[0].token_ids
    sid = llm.add(prompt, GREEDY)
    assert llm.seq(sid).pending == prompt[-1:]
    kids = llm.fork(sid, 2)
    while llm.has_running():
        llm.step()
    got = [llm.seq(s).output_ids for s in (sid, *kids)]
    for s in (sid, *kids):
        llm.drop(s)
    assert got == [want] * 3


def kv(n):  # the runner's read() layout for n positions: 2 x layers x heads x n x dim, 4 B each
    return torch.zeros(2, 2, 1, n, 4)


def test_budget_and_least_recently_used_eviction():
    size = kv(100).numel() * 4
    cache = PrefixCache(budget_bytes=3 * size, block=16)
    a, b, c, d = ([i] * 100 for i in range(1, 5))
    for ids in (a, b, c):
        cache.add(ids, kv)
    assert cache.used == 3 * size
    assert cache.match(a + [9])[1] == 100  # a is now the most recently used
    cache.add(d, kv)
    assert cache.used <= 3 * size
    assert cache.match(b)[0] is None and cache.match(a)[1] == 100  # b was the oldest
    assert cache.match(c[:40] + [7])[1] == 40  # a partial block still counts token by token
    assert cache.match(d, limit=99)[1] == 99


def test_an_extension_supersedes_its_prefix_and_a_covered_one_is_not_copied():
    reads = []
    read = lambda n: reads.append(n) or kv(n)
    cache = PrefixCache(budget_bytes=kv(200).numel() * 4, block=16)
    base = list(range(50))
    cache.add(base, read)
    cache.add(base + [100, 101], read)  # extends base: base's entry goes
    assert len(cache.entries) == 1 and cache.used == kv(52).numel() * 4
    cache.add(base[:30], read)  # already covered: nothing read
    assert reads == [50, 52]
    cache.add([7] * 600, read)  # bigger than the whole budget: not kept, not even copied
    assert len(cache.entries) == 1 and reads == [50, 52]
