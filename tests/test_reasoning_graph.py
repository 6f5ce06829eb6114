"""The think → search → read → think … → answer machine, driven by a scripted model (the bundled
135M model does not write Search-o1 tags) and the real local corpus."""
from pathlib import Path

import pytest

import tools
from reasoning import Options, run
from reasoning.events import (AnswerDelta, DocumentNotes, Done, Notice, SearchQuery, SearchResults,
                              ThinkingDelta)
from reasoning.prompts import (BEGIN_QUERY, DUPLICATE_MESSAGE, END_QUERY, LIMIT_MESSAGE, injection,
                               refusal)
from reasoning.sources import Source, web_searcher
from tests.reasoning_double import Scripted

CORPUS = Path(__file__).parent / "fixtures" / "tools" / "corpus"
QUESTION = "What do owls eat?"
READER = "Searched Web Pages"  # only the Reason-in-Documents prompt has it


def search(query):
    return [BEGIN_QUERY, " " + query + " ", END_QUERY]


@pytest.fixture
def corpus(tmp_path):
    db = tmp_path / "corpus.db"
    tools.Corpus(db).add([CORPUS])
    return db


def events_of(llm, opts, question=QUESTION):
    events = list(run(llm, question, opts))
    assert isinstance(events[-1], Done) and not any(isinstance(e, Done) for e in events[:-1])
    assert llm.seqs == {}, "every engine sequence is dropped at the end"
    return events


def text(events, kind):
    return "".join(e.text for e in events if isinstance(e, kind))


def test_search_tag_routes_to_search_read_and_back_to_the_same_sequence(tokenizer, corpus):
    main = ["I", " should", " look", " this", " up", ".", *search("owls hunt night prey"),
            " So", " owls", " eat", " mice", ".", "</think>", " Mice", "."]
    llm = Scripted(tokenizer, [(READER, ["Owls", " eat", " small", " mammals", "."]), ("", main)])
    searcher = web_searcher("local", k=2, page_chars=400, corpus=corpus)
    events = events_of(llm, Options(think=True, search="agentic", searcher=searcher))

    kinds = [type(e) for e in events]
    q, res, notes = (next(e for e in events if isinstance(e, k))
                     for k in (SearchQuery, SearchResults, DocumentNotes))
    assert q.query == "owls hunt night prey" and q.index == 0
    assert res.results and res.results[0]["title"] == "Owls of the night" and res.results[0]["rank"] == 1
    assert res.backend == "local" and not res.message
    assert notes.notes == "Owls eat small mammals."
    assert kinds.index(SearchQuery) < kinds.index(SearchResults) < kinds.index(DocumentNotes)
    after = kinds[kinds.index(DocumentNotes):]
    assert ThinkingDelta in after and after.index(ThinkingDelta) < after.index(AnswerDelta)
    # Two prompts only: the question (once) and the reader; the results went into the live sequence.
    assert len(llm.prompts) == 2 and READER in llm.prompts[1]
    assert "Owls are birds of prey" in llm.prompts[1] and "owls hunt night prey" in llm.prompts[1]
    assert END_QUERY in llm.prompts[0]  # the Search-o1 instruction
    main_seq = llm.dropped[0]
    assert injection("Owls eat small mammals.") in main_seq.context
    assert main_seq.context.index(END_QUERY + injection("Owls eat small mammals.") + " So") > 0
    done = events[-1]
    assert done.answer == "Mice." and "So owls eat mice." in done.reasoning
    assert done.stats.searches == 1 and done.stats.reading_tokens == 6  # 5 words + EOS
    assert done.stats.thinking_tokens == 15 and done.stats.finish_reason == "stop"


def test_duplicate_query_gets_the_fixed_message(tokenizer):
    calls = []

    def searcher(query):
        calls.append(query)
        return [Source("Owls", "https://example.org/owls", "owls eat mice", "Owls eat mice.", "test")]

    main = [*search("owl diet"), " Again", *search("owl diet"), " Done", "</think>", "Mice"]
    llm = Scripted(tokenizer, [(READER, ["Mice", "."]), ("", main)])
    events = events_of(llm, Options(think=True, search="agentic", searcher=searcher))
    assert calls == ["owl diet"]
    results = [e for e in events if isinstance(e, SearchResults)]
    assert [r.message for r in results] == ["", DUPLICATE_MESSAGE]
    assert [e.index for e in events if isinstance(e, SearchQuery)] == [0, 1]
    assert refusal(DUPLICATE_MESSAGE) + " Done" in llm.dropped[0].context


def test_over_the_limit_gets_the_limit_message_and_a_notice(tokenizer):
    def searcher(q):
        return [Source("T", "https://example.org/" + q, "s", "text about " + q, "test")]

    main = [*search("first"), " and", *search("second"), " ok", "</think>", "Answer"]
    llm = Scripted(tokenizer, [(READER, ["Notes"]), ("", main)])
    events = events_of(llm, Options(think=True, search="agentic", max_searches=1, searcher=searcher))
    results = [e for e in events if isinstance(e, SearchResults)]
    assert [r.message for r in results] == ["", LIMIT_MESSAGE]
    assert any(isinstance(e, Notice) and e.kind == "search_limit" for e in events)
    assert refusal(LIMIT_MESSAGE) + " ok" in llm.dropped[0].context
    assert events[-1].stats.searches == 1 and events[-1].answer == "Answer"


def test_search_off_never_searches(tokenizer):
    def searcher(query):
        raise AssertionError("search is off")

    main = ["Hmm", *search("owls"), " fine", "</think>", "Mice"]
    llm = Scripted(tokenizer, [("", main)])
    events = events_of(llm, Options(think=True, search="off", searcher=searcher))
    assert not any(isinstance(e, (SearchQuery, SearchResults, DocumentNotes)) for e in events)
    assert END_QUERY in text(events, ThinkingDelta)  # not a stop: just text
    assert END_QUERY not in llm.prompts[0] and len(llm.prompts) == 1


def test_think_close_goes_to_the_answer(tokenizer):
    llm = Scripted(tokenizer, [("", ["Two", " and", " two", ".", "</think>", "Four", "."])])
    events = events_of(llm, Options(think=True))
    assert text(events, ThinkingDelta) == "Two and two."
    assert text(events, AnswerDelta) == "Four."
    assert "</think>\n\nFour." in llm.dropped[0].context
    done = events[-1]
    assert (done.answer, done.reasoning) == ("Four.", "Two and two.")
    assert (done.stats.thinking_tokens, done.stats.answer_tokens) == (5, 3)  # 3 = two words + EOS


def test_budgets_are_visible(tokenizer):
    llm = Scripted(tokenizer, [("", ["a", " b", " c", " d", "</think>", "x", " y", " z"])])
    events = events_of(llm, Options(think=True, max_thinking_tokens=2, max_tokens=2))
    notices = [e.kind for e in events if isinstance(e, Notice)]
    assert notices == ["thinking_budget", "answer_budget"]
    assert text(events, ThinkingDelta) == "a b" and text(events, AnswerDelta) == " c d"
    assert "a b\n</think>\n\n c d" in llm.dropped[0].context
    assert events[-1].stats.finish_reason == "length"


def test_failed_search_is_said_and_thinking_goes_on(tokenizer):
    def searcher(query):
        raise tools.SearchError("offline")

    llm = Scripted(tokenizer, [("", [*search("owls"), " anyway", "</think>", "Mice"])])
    events = events_of(llm, Options(think=True, search="agentic", searcher=searcher))
    assert [e.message for e in events if isinstance(e, SearchResults)] == ["search failed: offline"]
    assert any(isinstance(e, Notice) and e.kind == "search_failed" for e in events)
    assert refusal("The search failed: offline") + " anyway" in llm.dropped[0].context
    assert events[-1].answer == "Mice"


def test_search_first_puts_numbered_webpages_in_the_prompt(tokenizer, corpus):
    llm = Scripted(tokenizer, [("", ["Owls", " eat", " mice", " [citation:1]", "."])])
    searcher = web_searcher("local", k=2, page_chars=300, corpus=corpus)
    events = events_of(llm, Options(search="first", searcher=searcher))
    q = next(e for e in events if isinstance(e, SearchQuery))
    res = next(e for e in events if isinstance(e, SearchResults))
    assert q.query == QUESTION and res.results
    prompt = llm.prompts[0]
    assert "[webpage 1 begin]\nOwls of the night\n" in prompt and "[webpage 1 end]" in prompt
    assert "[citation:X]" in prompt and prompt.index("[webpage 1 begin]") < prompt.index(QUESTION)
    assert events[-1].answer == "Owls eat mice [citation:1]."


def test_auto_searches_first_for_a_model_without_native_thinking(tokenizer, corpus):
    llm = Scripted(tokenizer, [("", ["Mice"])])
    events = events_of(llm, Options(search="auto", searcher=web_searcher("local", corpus=corpus)))
    assert "[webpage 1 begin]" in llm.prompts[0] and any(isinstance(e, SearchResults) for e in events)


def test_wall_time_stops_with_a_notice(tokenizer):
    llm = Scripted(tokenizer, [("", ["a"] * 50)])
    events = events_of(llm, Options(think=True, wall_time=0))
    assert [e.kind for e in events if isinstance(e, Notice)] == ["wall_time"]
    assert events[-1].stats.finish_reason == "length"


def test_closing_early_drops_every_sequence(tokenizer):
    llm = Scripted(tokenizer, [("", ["a"] * 1000)])
    stream = run(llm, QUESTION, Options(think=True))
    assert isinstance(next(stream), ThinkingDelta)
    stream.close()
    assert llm.seqs == {} and 0 in llm.dropped


def test_engine_errors_reach_the_caller_and_nothing_is_left_running(tokenizer):
    from engine.errors import PromptTooLong

    class Full(Scripted):
        def add(self, prompt, params):
            if READER in prompt:
                raise PromptTooLong("the prompt is too long")
            return super().add(prompt, params)

    llm = Full(tokenizer, [("", [*search("owls"), " more"])])
    searcher = lambda q: [Source("T", "https://example.org", "s", "text", "test")]  # noqa: E731
    with pytest.raises(PromptTooLong):
        list(run(llm, QUESTION, Options(think=True, search="agentic", searcher=searcher)))
    assert llm.seqs == {}


def test_run_stays_the_entry_function_after_the_graph_is_imported():
    import reasoning
    import reasoning.entry  # noqa: F401  (a submodule named `run` used to rebind the name)

    assert callable(reasoning.run) and reasoning.run.__module__ == "reasoning"


def test_deltas_are_held_back_and_written_together(monkeypatch):
    """At most one write of held-back deltas each FLUSH seconds, each kind and branch joined with
    its tokens' mean confidence, and every other event after the deltas before it."""
    from types import SimpleNamespace

    from reasoning import live as live_module

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(live_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    out = []
    live = live_module.Live(None, Options(), [], "off", writer=out.append)
    live.delta(ThinkingDelta, "a", 0, 0.5)  # the first goes out at once
    live.delta(ThinkingDelta, "b", 0, 1.0)
    live.delta(ThinkingDelta, "c", 1, 2.0)
    live.delta(ThinkingDelta, "d", 0, 3.0)
    assert out == [ThinkingDelta("a", 0, 0.5)]
    live.emit(Notice("n", "a notice"))
    assert out[1:] == [ThinkingDelta("bd", 0, 2.0, 2), ThinkingDelta("c", 1, 2.0), Notice("n", "a notice")]
    live.delta(AnswerDelta, "e", 0, 1.0)
    clock.now += 1.5 * live_module.FLUSH
    live.delta(AnswerDelta, "f", 0, 2.0)
    assert out[4:] == [AnswerDelta("ef", 0, 1.5, 2)]
    live.flush()
    assert len(out) == 5  # nothing was held back
