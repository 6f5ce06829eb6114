"""Prompts and tags: Search-o1's search-in-the-thought protocol, its Reason-in-Documents step, and
DeepSeek's web-search ("search first") prompt with [webpage N begin] blocks and [citation:N]."""
from __future__ import annotations

import datetime

BEGIN_QUERY, END_QUERY = "<|begin_search_query|>", "<|end_search_query|>"
BEGIN_RESULT, END_RESULT = "<|begin_search_result|>", "<|end_search_result|>"
FINAL_INFO = "**Final Information**"

# Search-o1's fixed replies (run_search_o1.py), injected in place of results.
LIMIT_MESSAGE = "The maximum search limit is exceeded. You are not allowed to search."
DUPLICATE_MESSAGE = "You have searched this query. Please refer to previous results."
NO_INFO = "No helpful information found."


def agentic_instruction(max_searches: int) -> str:
    return (
        "You can search the web while you reason. To search, write "
        f"{BEGIN_QUERY} your query {END_QUERY}. The system will search, read the pages and give you "
        f"what it found as {BEGIN_RESULT} ...search results... {END_RESULT}. You can search "
        f"several times; the maximum number of search attempts is {max_searches}. Once you have "
        "the information you need, continue your reasoning and answer.")


def injection(notes: str) -> str:
    """What goes into the live sequence after a search: Search-o1's spacing around its notes."""
    return f"\n\n{BEGIN_RESULT}{notes}{END_RESULT}\n\n"


def refusal(message: str) -> str:
    """A fixed message in place of results (duplicate query, over the limit, failed search)."""
    return f"\n{BEGIN_RESULT}\n{message}\n{END_RESULT}\n"


def query_in(segment: str) -> str:
    """The query of a thought segment that stopped on the end tag: after its last begin tag."""
    head, sep, tail = segment.rpartition(BEGIN_QUERY)
    return " ".join(tail.split()) if sep else ""


def recent_steps(reasoning: str, keep: int = 4, max_chars: int = 4000) -> str:
    """The reasoning so far as Search-o1 shows it to the reader: numbered steps, the first one,
    the last `keep` and every step that searched; the others elided."""
    lines = [line for line in reasoning.replace("\n\n", "\n").split("\n") if line.strip()]
    steps = [f"Step {i + 1}: {line}" for i, line in enumerate(lines)]
    kept: list[str] = []
    for i, step in enumerate(steps):
        if i == 0 or i >= len(steps) - keep or BEGIN_QUERY in step or BEGIN_RESULT in step:
            kept.append(step)
        elif kept and kept[-1] != "...":
            kept.append("...")
    return "\n\n".join(kept)[-max_chars:]


def reading_prompt(question: str, reasoning: str, query: str, sources: list) -> str:
    """Reason-in-Documents: the model condenses the pages for the current query. The reply is
    prefilled with the Final Information marker (see reading_prefix), so all it writes is notes."""
    pages = "\n\n".join(f"**Web Page {i}:** {s.title}\n{s.url}\n{s.text}"
                        for i, s in enumerate(sources, 1))
    return (
        "Read the web pages below and extract the information that helps with the current search "
        "query, given the question and the reasoning so far. Keep only facts found in the pages, "
        f"relevant to the query. If nothing helps, write: {NO_INFO}\n\n"
        f"**Question:** {question}\n\n"
        f"**Previous Reasoning Steps:**\n{reasoning or '(none yet)'}\n\n"
        f"**Current Search Query:** {query}\n\n"
        f"**Searched Web Pages:**\n{pages}\n\n"
        f"Begin your reply with {FINAL_INFO} followed by the helpful information.")


def reading_prefix() -> str:
    return FINAL_INFO + "\n\n"


def notes_from(output: str) -> str:
    """Only what follows the (last) Final Information marker goes back into the thought."""
    notes = output.rpartition(FINAL_INFO)[2].strip().strip("`").strip()
    return notes or NO_INFO


def web_prompt(question: str, sources: list, today: datetime.date | None = None) -> str:
    """DeepSeek's web-search template (DeepSeek-R1 README, English), the list-and-writing
    guidance left out: a small model reads it faster and it changes nothing for a question."""
    today = today or datetime.date.today()
    pages = "\n".join(f"[webpage {i} begin]\n{s.title}\n{s.text}\n[webpage {i} end]"
                      for i, s in enumerate(sources, 1))
    return (
        "# The following contents are the search results related to the user's message:\n"
        f"{pages}\n"
        "In the search results I provide to you, each result is formatted as "
        "[webpage X begin]...[webpage X end], where X represents the numerical index of each "
        "article. Please cite the context at the end of the relevant sentence when appropriate. "
        "Use the citation format [citation:X] in the corresponding part of your answer. If a "
        "sentence is derived from multiple contexts, list all relevant citation numbers, such as "
        "[citation:3][citation:5]. Be sure not to cluster all citations at the end; instead, "
        "include them in the corresponding parts of the answer.\n"
        "When responding, please keep the following points in mind:\n"
        f"- Today is {today:%A, %B %d, %Y}.\n"
        "- Not all content in the search results is closely related to the user's question. You "
        "need to evaluate and filter the search results based on the question.\n"
        "- Unless the user requests otherwise, your response should be in the same language as "
        "the user's question.\n\n"
        f"# The user's message is:\n{question}")
