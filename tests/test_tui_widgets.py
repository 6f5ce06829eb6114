"""The chat widgets fed constructed event streams (deterministic), checked by assertions and by
SVG snapshots (pytest-textual-snapshot; update with --snapshot-update after a deliberate change)."""
from pathlib import Path

import pytest
from textual.app import App

import tui
from app.common import load_llm
from app.store import Store
from reasoning import Options
from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, DocumentNotes,
                              Done, Notice, SearchQuery, SearchResults, Stats, ThinkingDelta, Vote)
from tui.app import ChatApp
from tui.widgets.answer import Answer
from tui.widgets.conversation import Conversation

RESULTS = [
    {"title": "Paris - Wikipedia", "url": "https://en.wikipedia.org/wiki/Paris", "snippet": "",
     "backend": "duckduckgo", "rank": 1},
    {"title": "Paris | History, Map, Population", "url": "https://www.britannica.com/place/Paris",
     "snippet": "", "backend": "duckduckgo", "rank": 2},
]
SEARCH = [
    (0.0, ThinkingDelta("The user asks for the capital of France. ")),
    (0.5, SearchQuery("capital of France")),
    (1.0, SearchResults("capital of France", RESULTS, backend="duckduckgo")),
    (2.0, DocumentNotes("capital of France", "Paris is the capital and most populous city of France.")),
    (3.0, ThinkingDelta("The pages agree: Paris.")),
    (7.0, AnswerDelta("The capital of France is **Paris** [citation:1].")),
    (7.5, Done("The capital of France is **Paris** [citation:1].", stats=Stats(
        thinking_tokens=40, answer_tokens=12, searches=1, elapsed=7.5, tok_per_s=6.9))),
]
BRANCHES = [
    (0.0, BranchStarted(0)), (0.0, BranchStarted(1)), (0.0, BranchStarted(2, parent=0)), (0.0, BranchStarted(3)),
    (0.2, ThinkingDelta("Six times seven… ", branch=0, confidence=8.0)),
    (0.2, ThinkingDelta("Count sevens: ", branch=1, confidence=6.0)),
    (0.3, ThinkingDelta("Maybe 40? ", branch=2, confidence=1.5)),
    (1.0, BranchPruned(2, step=3, confidence=1.5, threshold=3.0)),
    (2.0, BranchFinished(0, "42", confidence=8.1, tokens=120)),
    (2.5, BranchFinished(1, "42", confidence=6.3, tokens=160)),
    (2.5, BranchFinished(3, "41", confidence=3.6, tokens=90)),
    (2.6, Vote("42", weights={"42": 14.4, "41": 3.6})),
    (3.0, AnswerDelta("The answer is **42**.")),
    (3.2, Done("The answer is **42**.", stats=Stats(branches=3, pruned=1, elapsed=3.2))),
]


class Host(App):
    """One live answer alone on a screen, styled like the chat app."""

    CSS_PATH = Path(tui.__file__).parent / "app.tcss"

    def compose(self):
        yield Conversation(Answer(live=True), id="conversation")


async def play(pilot, events):
    answer = pilot.app.query_one(Answer)
    for at, event in events:
        await answer.feed(event, 100.0 + at)
    await pilot.pause()
    return answer


async def test_thinking_streams_open_then_folds_when_the_answer_starts():
    async with Host().run_test() as pilot:
        answer = pilot.app.query_one(Answer)
        assert not answer.thinking.display
        await play(pilot, [(0.0, ThinkingDelta("Two and two ")), (1.0, ThinkingDelta("make four."))])
        assert answer.thinking.display and not answer.thinking.collapsed
        assert answer.thinking.body.content == "Two and two make four."
        await play(pilot, [(12.4, AnswerDelta("**4**")), (12.5, Notice("answer_budget", "cut at 1 token")),
                           (12.6, Done("**4**", stats=Stats(elapsed=12.6)))])
        assert answer.thinking.collapsed and answer.thinking.title == "Thought for 12 s"
        assert answer.text == "**4**" and answer.notices == ["cut at 1 token"] and not answer.live
        pilot.app.query_one(Conversation).show_thinking(True)  # the global toggle
        assert not answer.thinking.collapsed
        await pilot.press("tab", "t")  # and the one for this message
        assert answer.thinking.collapsed


async def test_search_card_fills_in_and_citations_link_to_results():
    async with Host().run_test() as pilot:
        answer = await play(pilot, SEARCH[:2])
        (card,) = answer.cards
        assert str(card.head.render()).endswith("searching…")
        answer = await play(pilot, SEARCH[2:])
        assert "2 results via duckduckgo" in str(card.head.render())
        listed = str(card.list.render())
        assert "[1] Paris - Wikipedia — en.wikipedia.org" in listed and "britannica.com" in listed
        assert card.notes == "Paris is the capital and most populous city of France."
        assert answer.body.source == ("The capital of France is **Paris** "
                                      "[[1]](https://en.wikipedia.org/wiki/Paris).")


async def test_a_failed_search_says_why_once():
    why = "search failed: duckduckgo search failed (network down?)"
    async with Host().run_test() as pilot:
        answer = await play(pilot, [(0.0, SearchQuery("owls")), (1.0, SearchResults("owls", message=why)),
                                    (1.0, Notice("search_failed", why))])
        (card,) = answer.cards
        assert str(card.head.render()) == "⌕ owls  search failed"
        assert str(card.list.render()) == why and answer.notices == []


async def test_branch_tree_shows_confidence_pruning_and_the_vote():
    async with Host().run_test() as pilot:
        answer = await play(pilot, BRANCHES)
        tree = answer.branch_tree
        assert tree.display
        assert str(tree.root.label) == "Vote → 42"
        (b0, b1, b3, first, second) = tree.root.children
        assert str(b0.label).startswith("branch 0  conf 8.10") and str(b0.label).endswith("→ 42")
        (b2,) = b0.children  # forked from branch 0
        assert "pruned at step 3: conf 1.50 < 3.00" in str(b2.label) and b2.label.style == "dim"
        assert str(b3.label) == "branch 3  conf 3.60  90 tok  → 41"
        assert str(first.label) == "42  ▮▮▮▮▮▮▮▮ 80% (weight 14.40)"
        assert str(second.label) == "41  ▮▮ 20% (weight 3.60)"
        assert answer.thinking.body.content == "Six times seven… "  # the lead branch's thought


def test_a_delta_counts_the_tokens_behind_it():
    """reasoning/live.py writes a few tokens as one delta: the counts and the running mean of the
    confidence go by tokens, not deltas."""
    from tui.session import Job
    from tui.widgets.branch_tree import BranchTree

    tree, job = BranchTree(), Job(1, 1, Options())
    for delta in (ThinkingDelta("ab", branch=1, confidence=2.0, tokens=2),
                  AnswerDelta("c", branch=1, confidence=5.0)):
        tree.feed(delta)
        job.add(delta)
    assert tree.branches[1]["tokens"] == job.tokens == 3
    assert tree.branches[1]["conf"] == pytest.approx(3.0)


@pytest.fixture(scope="module")
def llm():
    return load_llm()


def test_snapshot_search_card(snap_compare):
    assert snap_compare(Host(), terminal_size=(80, 20), run_before=lambda pilot: play(pilot, SEARCH))


def test_snapshot_branch_tree(snap_compare):
    async def run_before(pilot):
        await play(pilot, BRANCHES)
        pilot.app.query_one(Answer).thinking.collapsed = False

    assert snap_compare(Host(), terminal_size=(80, 24), run_before=run_before)


def main_screen(tmp_path, llm) -> tuple[ChatApp, int]:
    store = Store(tmp_path / "history.db")
    cid = store.new_conversation(model="default")
    user = store.add_user(cid, "What is the capital of France?")
    reply = store.add_message(
        cid, "assistant", "The capital of France is **Paris** [citation:1].\n\n```python\nprint('Paris')\n```",
        user, reasoning="The user asks for the capital of France. Paris.", finish_reason="stop",
        tok_per_s=12.5, duration=3.2, tokens_out=40)
    search = store.add_search(reply, "capital of France")
    store.update_search(search, backend="duckduckgo", results=RESULTS[:1],
                        notes="Paris is the capital of France.")
    follow = store.add_user(cid, "And of Germany?", reply)
    store.add_message(cid, "assistant", "Berlin", follow, finish_reason="interrupted", complete=0)
    store.new_conversation(title="An older chat")
    return ChatApp(store, Options(think=True, search="first"), {"model": "default"}, llm=llm), cid


@pytest.mark.parametrize("size", [(80, 24), (110, 32)])
def test_snapshot_main_screen(snap_compare, tmp_path, llm, size):
    app, cid = main_screen(tmp_path, llm)

    async def run_before(pilot):
        await pilot.app.open(cid, None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshot_main_screen_light(snap_compare, tmp_path, llm):
    app, cid = main_screen(tmp_path, llm)

    async def run_before(pilot):
        await pilot.app.open(cid, None)
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_follows_the_stream_only_while_the_reader_is_at_the_bottom():
    lines = [(float(i), AnswerDelta(f"line {i}\n\n")) for i in range(40)]
    async with Host().run_test(size=(60, 12)) as pilot:
        view = pilot.app.query_one(Conversation)
        view.anchor()
        await play(pilot, lines[:20])
        assert view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y
        view.focus()
        await pilot.press("pageup")  # the reader scrolls up to read: the view stays put
        await pilot.wait_for_scheduled_animations()
        held = view.scroll_y
        await play(pilot, lines[20:30])
        assert view.scroll_y == held < view.max_scroll_y
        await pilot.press("end")  # back at the bottom: it follows again
        await pilot.wait_for_scheduled_animations()
        await play(pilot, lines[30:])
        assert view.scroll_y == view.max_scroll_y
