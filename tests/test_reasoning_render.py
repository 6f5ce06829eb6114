"""The terminal renderer of reasoning events: citations become numbered links, branch text is
shown a line at a time per branch; events survive their JSON form."""
import io
import json

from app.render import Renderer
from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, Done,
                              SearchResults, Stats, ThinkingDelta, Vote, from_dict, rate)

RESULTS = [{"title": "Owls of the night", "url": "https://example.org/owls", "snippet": "", "backend": "t",
            "rank": 1},
           {"title": "Tea", "url": "https://example.org/tea", "snippet": "", "backend": "t", "rank": 2}]


def render(events, color=False):
    out = io.StringIO()
    r = Renderer(out, color=color)
    for e in events:
        r(e)
    return out.getvalue()


def test_citations_cut_across_deltas_become_numbered_sources():
    text = render([SearchResults("owls", RESULTS), AnswerDelta("Owls eat mice [cita"),
                   AnswerDelta("tion:1]. Tea [citation:9] ["), AnswerDelta("x]."), Done("…")])
    assert "Owls eat mice [1]. Tea [9] [x]." in text and "citation" not in text
    sources = text[text.index("Sources:"):]
    assert "[1] Owls of the night — https://example.org/owls" in sources and "tea" not in sources


def test_citations_are_terminal_links_when_styled():
    text = render([SearchResults("owls", RESULTS), AnswerDelta("See [citation:2]."), Done("")], color=True)
    assert "\x1b]8;;https://example.org/tea\x1b\\[2]\x1b]8;;\x1b\\" in text


def test_branches_print_whole_lines_tagged_with_their_branch():
    events = [BranchStarted(0), BranchStarted(1), ThinkingDelta("first ", branch=0),
              ThinkingDelta("one\nsec", branch=0), ThinkingDelta("other\n", branch=1),
              AnswerDelta("\\boxed{2}", branch=1), BranchPruned(0, 1, 0.5, 1.0),
              BranchFinished(1, "\\boxed{2}", 2.0, 9), Vote("2", {"2": 2.0}),
              Done("\\boxed{2}", stats=Stats(branches=2, pruned=1))]
    lines = render(events).splitlines()
    assert lines.index("[0] first one") < lines.index("[1] other") < lines.index("[0] sec")
    assert "[1] \\boxed{2}" in lines and "2 branches, 1 pruned" in lines[-1]
    assert lines[lines.index("Answer:") + 1] == "\\boxed{2}"


def test_speed_counts_from_the_first_token():
    assert rate(101, 3.0, 1.0) == 50.0  # 100 tokens in the 2 s after the first
    assert rate(1, 2.0, 1.5) == 0.5 and rate(10, 2.0, 0.0) == 5.0  # no interval: the average
    assert rate(0, 0.0, 0.0) == 0.0
    footer = render([Done("ok", stats=Stats(prompt_tokens=1586, answer_tokens=23, elapsed=1.1,
                                            first_token=0.9, tok_per_s=110.0))]).splitlines()[-1]
    assert footer == "1586 prompt + 0 thinking + 23 answer tokens · 110.0 tok/s · 1.1 s (first token 0.90 s)"


def test_events_round_trip_through_json():
    done = Done("a", "r", Stats(reading_tokens=7, searches=2, pruned=1))
    for e in (done, BranchPruned(2, 3, 0.5, 1.0, "duplicate steps"), SearchResults("q", RESULTS)):
        assert from_dict(json.loads(json.dumps(e.to_dict()))) == e
