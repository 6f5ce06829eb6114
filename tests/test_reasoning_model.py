"""End to end with the real bundled model and a real local corpus: search first with thinking,
branches with pruning and a vote, and `sikao ask` with the new flags. Generations stay short."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tools
from reasoning import Options, run
from reasoning.events import (AnswerDelta, BranchPruned, BranchStarted, Done, SearchQuery,
                              SearchResults, ThinkingDelta, Vote)
from reasoning.sources import web_searcher

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "tools" / "corpus"
pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path):
    db = tmp_path / "corpus.db"
    tools.Corpus(db).add([CORPUS])
    return db


def test_think_with_search_first(llm, corpus):
    opts = Options(think=True, search="first", temperature=0, max_thinking_tokens=24, max_tokens=16,
                   searcher=web_searcher("local", k=2, page_chars=300, corpus=corpus))
    events = list(run(llm, "What do owls eat?", opts))
    kinds = [type(e) for e in events]
    assert kinds[:2] == [SearchQuery, SearchResults] and kinds[-1] is Done and kinds.count(Done) == 1
    results = events[1].results
    assert results and all(r["backend"] == "local" for r in results)
    assert results[0]["title"] == "Owls of the night"
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    answer = [e for e in events if isinstance(e, AnswerDelta)]
    assert thinking and answer and events.index(thinking[-1]) < events.index(answer[0])
    done = events[-1]
    assert done.reasoning == "".join(e.text for e in thinking).strip()
    assert done.answer and done.answer == "".join(e.text for e in answer).strip()
    s = done.stats
    assert s.searches == 1 and s.prompt_tokens > 100 and 0 < s.thinking_tokens <= 24
    assert 0 < s.answer_tokens <= 16 and s.finish_reason in ("stop", "length")
    # the speed leaves out the wait for the first token (the search and the long prompt's prefill)
    assert 0 < s.first_token < s.elapsed
    tokens = s.thinking_tokens + s.answer_tokens
    assert s.tok_per_s == pytest.approx((tokens - 1) / (s.elapsed - s.first_token))
    assert llm.seqs == {}


def test_branches_fork_prune_under_a_strict_threshold_and_vote(llm):
    opts = Options(branches=4, max_tokens=12, window=4, prune_threshold=1e9, seed=1)
    events = list(run(llm, "What is 2+2?", opts))
    assert [e.branch for e in events if isinstance(e, BranchStarted)] == [0, 1, 2, 3]
    pruned = [e for e in events if isinstance(e, BranchPruned)]
    assert len(pruned) == 3  # the last branch standing is kept
    assert all(e.threshold == 1e9 and e.confidence < 1e9 for e in pruned)
    (vote,) = [e for e in events if isinstance(e, Vote)]
    assert len(vote.weights) == 1 and vote.answer in vote.weights
    branches_seen = {e.branch for e in events if isinstance(e, AnswerDelta)}
    assert branches_seen == {0, 1, 2, 3}  # every branch streamed before it was pruned
    done = events[-1]
    assert isinstance(done, Done) and done.answer and done.stats.pruned == 3
    assert done.stats.branches == 4 and llm.seqs == {}


def test_ask_cli_searches_first_and_streams_json_events(corpus):
    cmd = [sys.executable, "-m", "app", "ask", "--json", "--no-log", "--search", "first",
           "--search-backend", "local", "--corpus", str(corpus), "--max-tokens", "8",
           "--temperature", "0", "--branches", "2", "--prune", "off", "What do owls eat?"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[:2] == ["SearchQuery", "SearchResults"] and types[-1] == "Done"
    assert types.count("BranchStarted") == 2 and "Vote" in types
    assert events[1]["results"][0]["url"].endswith("owls.md")
    assert events[-1]["stats"]["searches"] == 1 and events[-1]["stats"]["branches"] == 2


def test_ask_cli_rejects_a_bad_search_mode_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "app", "ask", "--search", "sideways", "hi"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "sideways" in proc.stderr and "Traceback" not in proc.stderr
