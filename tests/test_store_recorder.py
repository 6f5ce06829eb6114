"""The Recorder turns the reasoning event stream into history rows, incrementally."""
import sqlite3

import pytest

from app.store import Store
from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, DocumentNotes,
                              Done, Error, Notice, SearchQuery, SearchResults, Stats, ThinkingDelta,
                              Vote)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "h.db") as s:
        yield s


def _exchange(store, question="What is 2+2?"):
    cid = store.new_conversation()
    return cid, store.add_user(cid, question)


def _peek(store, mid):
    """The row as another process would see it now (a separate connection)."""
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM messages WHERE id = ?", [mid]).fetchone())
    finally:
        conn.close()


def test_complete_answer_with_search(store):
    cid, q = _exchange(store)
    results = [{"title": "Arithmetic", "url": "https://example.org/add", "snippet": "2+2=4"}]
    with store.recorder(cid, q, model="tiny", params={"temperature": 0.6}) as rec:
        for event in [ThinkingDelta("I should check. "), SearchQuery("2+2"),
                      SearchResults("2+2", results, backend="local"), DocumentNotes("2+2", "It is 4."),
                      ThinkingDelta("It is 4."), AnswerDelta("The answer "), AnswerDelta("is 4."),
                      Done("The answer is 4.", "I should check. It is 4.",
                           Stats(prompt_tokens=20, thinking_tokens=8, answer_tokens=5, elapsed=2.0,
                                 tok_per_s=6.5, model="tiny-q4"))]:
            rec.feed(event)
    m = store.message(rec.id)
    assert (m["role"], m["parent_id"], m["conversation_id"]) == ("assistant", q, cid)
    assert m["content"] == "The answer is 4." and m["reasoning"] == "I should check. It is 4."
    assert (m["tokens_in"], m["tokens_out"], m["duration"], m["tok_per_s"]) == (20, 13, 2.0, 6.5)
    assert (m["finish_reason"], m["complete"], m["model"]) == ("stop", True, "tiny-q4")
    assert m["params"] == {"temperature": 0.6}
    call, = store.search_calls(rec.id)
    assert (call["query"], call["backend"], call["results"], call["notes"]) == ("2+2", "local", results, "It is 4.")
    assert store.graph(rec.id) is None  # one branch: no inference graph
    assert store.thread(cid)[-1]["id"] == rec.id


def test_row_exists_incomplete_from_the_start_and_is_flushed_while_streaming(store):
    cid, q = _exchange(store)
    rec = store.recorder(cid, q, interval=0)
    row = _peek(store, rec.id)
    assert (row["complete"], row["finish_reason"], row["content"]) == (0, "interrupted", "")
    rec.feed(ThinkingDelta("thinking…"))
    rec.feed(AnswerDelta("partial"))
    row = _peek(store, rec.id)
    assert (row["reasoning"], row["content"], row["complete"]) == ("thinking…", "partial", 0)


def test_flushes_are_throttled_by_interval(store):
    cid, q = _exchange(store)
    rec = store.recorder(cid, q, interval=3600)
    rec.feed(AnswerDelta("not yet on disk"))
    assert _peek(store, rec.id)["content"] == ""
    rec.flush()
    assert _peek(store, rec.id)["content"] == "not yet on disk"


def test_ctrl_c_saves_everything_generated_marked_interrupted(store):
    cid, q = _exchange(store)
    with pytest.raises(KeyboardInterrupt):
        with store.recorder(cid, q, interval=3600) as rec:
            rec.feed(ThinkingDelta("step one. "))
            rec.feed(ThinkingDelta("step two. "))
            rec.feed(AnswerDelta("Half an ans"))
            raise KeyboardInterrupt
    m = store.message(rec.id)
    assert (m["reasoning"], m["content"]) == ("step one. step two. ", "Half an ans")
    assert (m["complete"], m["finish_reason"]) == (False, "interrupted")
    assert m["duration"] is not None and m["tokens_out"] is None
    assert [x["content"] for x in store.thread(cid)] == ["What is 2+2?", "Half an ans"]


def test_exception_and_error_event_mark_error(store):
    cid, q = _exchange(store)
    with pytest.raises(RuntimeError):
        with store.recorder(cid, q) as rec:
            rec.feed(AnswerDelta("so far"))
            raise RuntimeError("engine died")
    assert (store.message(rec.id)["finish_reason"], store.message(rec.id)["content"]) == ("error", "so far")

    with store.recorder(cid, q) as rec2:
        rec2.feed(ThinkingDelta("hmm"))
        rec2.feed(Error("out of memory"))
    m = store.message(rec2.id)
    assert (m["finish_reason"], m["complete"], m["reasoning"]) == ("error", False, "hmm")
    assert m["notices"] == [{"kind": "error", "message": "out of memory", "branch": 0}]
    assert [s["id"] for s in store.siblings(rec.id)] == [rec.id, rec2.id]  # a retry is a sibling


def test_stream_ending_without_done_is_incomplete_and_length_is_complete(store):
    cid, q = _exchange(store)
    with store.recorder(cid, q) as rec:
        rec.feed(AnswerDelta("cut"))
    assert (store.message(rec.id)["complete"], store.message(rec.id)["finish_reason"]) == (False, "interrupted")

    with store.recorder(cid, q) as rec:
        rec.feed(Notice("answer_budget", "answer hit max_tokens"))
        rec.feed(Done("long…", stats=Stats(answer_tokens=4, finish_reason="length")))
        rec.feed(AnswerDelta("after done is ignored"))
    m = store.message(rec.id)
    assert (m["content"], m["complete"], m["finish_reason"]) == ("long…", True, "length")
    assert m["notices"][0]["kind"] == "answer_budget"
    assert m["tok_per_s"] > 0  # computed from tokens and measured time when the stats lack it


def test_multi_branch_answer_keeps_the_inference_graph(store):
    cid, q = _exchange(store)
    graph = {"nodes": [{"id": "0:0"}, {"id": "1:0"}], "edges": [["0:0", "1:0", 0.9]]}
    with store.recorder(cid, q, interval=0) as rec:
        rec.feed(BranchStarted(0))
        rec.feed(BranchStarted(1, parent=0))
        rec.feed(ThinkingDelta("zero thinks", branch=0))
        rec.feed(ThinkingDelta("one thinks", branch=1))
        rec.feed(SearchQuery("q", branch=1))
        rec.feed(BranchPruned(0, step=3, confidence=0.2, threshold=0.5))
        rec.feed(AnswerDelta("4", branch=1))
        assert _peek(store, rec.id)["reasoning"] == "one thinks"  # the surviving branch leads
        rec.feed(BranchFinished(1, answer="4", confidence=0.9, tokens=12))
        rec.feed(Vote("4", weights={"4": 1.0}, graph=graph))
        rec.feed(Done("4", "one thinks", Stats(branches=2, pruned=1)))
    g = store.graph(rec.id)
    assert (g["answer"], g["weights"], g["graph"]) == ("4", {"4": 1.0}, graph)
    assert g["branches"]["0"]["pruned"] == {"step": 3, "confidence": 0.2, "threshold": 0.5,
                                            "reason": "low confidence"}
    assert g["branches"]["1"] == {"parent": 0, "finished": {"answer": "4", "confidence": 0.9, "tokens": 12},
                                  "thinking": "one thinks", "answer": "4"}
    assert store.search_calls(rec.id)[0]["branch"] == 1
