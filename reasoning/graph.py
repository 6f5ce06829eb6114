"""The LangGraph state machine of one answer:

    START → [search_first] → think ⇄ search → read → think … → answer → END
                           ↘ branches (K > 1: the dynamic inference graph, reasoning/dig.py) → END

`think` streams until Search-o1's end-of-query tag, `</think>` or its budget; `search` runs the
query (or answers with Search-o1's duplicate / limit message); `read` condenses the pages with the
same model and injects the notes into the live sequence, which goes on from its KV cache. With
thinking off, `answer` may search the same way. Nodes run in LangGraph's worker thread and stream
events through its writer; `Live` holds the engine, budgets and texts, the state only the route."""
from __future__ import annotations

from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from engine.chat import THINK_CLOSE, build_prompt
from reasoning import dig
from reasoning.events import AnswerDelta, DocumentNotes, Notice, SearchQuery, SearchResults, ThinkingDelta
from reasoning.live import Live
from reasoning.prompts import (DUPLICATE_MESSAGE, END_QUERY, LIMIT_MESSAGE, NO_INFO, injection,
                               notes_from, query_in, reading_prefix, reading_prompt, recent_steps,
                               refusal)
from reasoning.sources import web_searcher

CLOSE_THOUGHT = "\n" + THINK_CLOSE + "\n\n"


class State(TypedDict, total=False):
    sid: int  # the live sequence: prompt, thought, injected results, answer
    phase: str  # think | answer: where a search goes back to
    next: str  # the route the last node chose
    query: str
    hits: list  # sources found for `query`, waiting to be read
    sources: list  # search-first sources, in the prompt
    searches: int
    queries: list[str]


def build(live: Live):
    g = StateGraph(State)
    for name, fn in (("search_first", search_first), ("think", think), ("search", search),
                     ("read", read), ("answer", answer), ("branches", branches)):
        g.add_node(name, _node(live, fn))
    g.add_edge(START, "search_first" if live.mode == "first" else _entry(live))
    route = lambda state: state["next"]  # noqa: E731
    g.add_conditional_edges("search_first", route, ["think", "answer", "branches"])
    g.add_conditional_edges("think", route, ["search", "answer", END])
    g.add_conditional_edges("search", route, ["read", "think", "answer", END])
    g.add_conditional_edges("read", route, ["think", "answer", END])
    g.add_conditional_edges("answer", route, ["search", END])
    g.add_edge("branches", END)
    return g.compile()


def _node(live: Live, fn):
    def run(state: State) -> dict:
        live.writer = get_stream_writer()
        update = fn(live, state)
        live.flush()  # the writer is this node's: what it holds back goes out before it ends
        return update

    return run


def _entry(live: Live) -> str:
    return "branches" if live.opts.branches > 1 else "think" if live.opts.think else "answer"


def _stops(live: Live, phase: str) -> list[str]:
    tags = [END_QUERY] if live.mode == "agentic" else []
    return tags + [THINK_CLOSE] if phase == "think" else tags


def _params(live: Live, phase: str):
    o, s = live.opts, live.stats
    left = o.max_thinking_tokens - s.thinking_tokens if phase == "think" else o.max_tokens - s.answer_tokens
    return live.params(left, _stops(live, phase))


def _start(live: Live, state: State, phase: str) -> int:
    sid = live.add(live.prompt(state.get("sources")), _params(live, phase))
    live.stats.prompt_tokens = live.llm.seq(sid).n_prompt
    return sid


# -- nodes -------------------------------------------------------------------------------------
def search_first(live: Live, state: State) -> dict:
    if live.opts.max_searches < 1:
        live.emit(Notice("search_limit", "no search: the search limit is 0"))
        return {"next": _entry(live)}
    hits, _ = lookup(live, " ".join(live.question.split())[:300], 0)
    live.stats.searches = 1
    return {"sources": hits or [], "searches": 1, "next": _entry(live)}


def think(live: Live, state: State) -> dict:
    sid = state.get("sid")
    if sid is None:
        sid = _start(live, state, "think")
    stop = live.stream(sid, ThinkingDelta, live.thinking)
    live.stats.thinking_tokens += stop.tokens
    base = {"sid": sid, "phase": "think"}
    if stop.reason == "time":
        return _end(live, base, "length")
    if stop.stop_str == END_QUERY:
        return {**base, "next": "search", "query": query_in(stop.text)}
    if stop.stop_str == THINK_CLOSE:
        live.llm.append(sid, "\n\n", _params(live, "answer"))
    else:  # the budget, or an end of text before the thought was closed
        if stop.reason == "length":
            live.emit(budget_notice(live.opts, "think"))
        live.llm.append(sid, CLOSE_THOUGHT, _params(live, "answer"))
    return {**base, "next": "answer"}


def answer(live: Live, state: State) -> dict:
    sid = state.get("sid")
    if sid is None:
        sid = _start(live, state, "answer")
    stop = live.stream(sid, AnswerDelta, live.answer)
    live.stats.answer_tokens += stop.tokens
    base = {"sid": sid, "phase": "answer"}
    if stop.stop_str == END_QUERY:
        return {**base, "next": "search", "query": query_in(stop.text)}
    if stop.reason == "length":
        live.emit(budget_notice(live.opts, "answer"))
    return _end(live, base, "stop" if stop.reason == "stop" else "length")


def search(live: Live, state: State) -> dict:
    q, n, done = state["query"], state.get("searches", 0), state.get("queries", [])
    if not q:  # an end tag without a query: nothing to search, think on
        return resume(live, state, "\n")
    message = LIMIT_MESSAGE if n >= live.opts.max_searches else DUPLICATE_MESSAGE if q in done else None
    if message:
        live.emit(SearchQuery(q, index=n))
        live.emit(SearchResults(q, message=message))
        if message is LIMIT_MESSAGE:
            live.emit(Notice("search_limit", f"search limit reached ({live.opts.max_searches}): "
                                             f"not searching {q!r}"))
        return resume(live, state, refusal(message))
    hits, error = lookup(live, q, n)
    live.stats.searches = n + 1
    counted = {"searches": n + 1, "queries": [*done, q]}
    if hits is None:
        return {**counted, **resume(live, state, refusal(f"The search failed: {error}"))}
    return {**counted, "hits": hits, "next": "read"}


def read(live: Live, state: State) -> dict:
    q, hits = state["query"], state.get("hits") or []
    notes = condense(live, q, hits) if hits else NO_INFO
    live.emit(DocumentNotes(q, notes))
    return {**resume(live, state, injection(notes)), "hits": []}


def branches(live: Live, state: State) -> dict:
    dig.run(live, live.prompt(state.get("sources")))
    return {"next": END}


# -- helpers -----------------------------------------------------------------------------------
def lookup(live: Live, query: str, index: int) -> tuple[list | None, str]:
    """Search, streaming the query and its results; (None, why) when the search failed."""
    from tools import ToolError

    o = live.opts
    searcher = o.searcher or web_searcher(o.search_backend, o.search_k, o.page_chars,
                                          searxng_url=o.searxng_url, corpus=o.corpus,
                                          allow_hosts=o.allow_hosts)
    live.emit(SearchQuery(query, index=index))
    try:
        hits = searcher(query)
    except ToolError as err:
        live.emit(SearchResults(query, message=f"search failed: {err}"))
        live.emit(Notice("search_failed", f"search failed: {err}"))
        return None, str(err)
    backend = ",".join(dict.fromkeys(h.backend for h in hits if h.backend))
    live.emit(SearchResults(query, [h.to_dict(i) for i, h in enumerate(hits, 1)], backend=backend))
    return hits, ""


def condense(live: Live, query: str, hits: list) -> str:
    """Reason-in-Documents: a side sequence of the same model writes notes for the query."""
    text = reading_prompt(live.question, recent_steps("".join(live.thinking)), query, hits)
    prompt = build_prompt(live.llm.tokenizer, [{"role": "user", "content": text}], think=False)
    sid = live.add(prompt + reading_prefix(), live.params(live.opts.max_reading_tokens))
    parts = []
    try:
        for out in live.decode({sid}):
            live.stats.reading_tokens += 1
            parts.append(out.text)
            if out.finished:
                break
    finally:
        live.drop(sid)
    return notes_from(reading_prefix() + "".join(parts))


def resume(live: Live, state: State, text: str) -> dict:
    """Append `text` to the live sequence and go back to the phase that searched; a spent budget
    closes the thought (or ends the answer) instead."""
    o, s, sid, phase = live.opts, live.stats, state["sid"], state["phase"]
    if phase == "think" and s.thinking_tokens >= o.max_thinking_tokens:
        live.emit(budget_notice(live.opts, "think"))
        live.llm.append(sid, text + CLOSE_THOUGHT, _params(live, "answer"))
        return {"next": "answer"}
    if phase == "answer" and s.answer_tokens >= o.max_tokens:
        live.emit(budget_notice(live.opts, "answer"))
        return _end(live, {}, "length")
    live.llm.append(sid, text, _params(live, phase))
    return {"next": phase}


def budget_notice(opts, phase: str) -> Notice:
    if phase == "think":
        return Notice("thinking_budget", f"thinking stopped at the {opts.max_thinking_tokens}"
                                         "-token budget; answering now")
    return Notice("answer_budget", f"the answer stopped at the {opts.max_tokens}-token budget")


def _end(live: Live, update: dict, reason: str) -> dict:
    live.stats.finish_reason = reason
    return {**update, "next": END}
