"""The chat app driven through Textual's pilot, with the real bundled model and a real history
file. Budgets are a few tokens so each answer takes seconds."""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from app.common import load_llm
from app.store import Store
from reasoning import Options
from reasoning.events import AnswerDelta
from tui import app as tui_app
from tui.app import ChatApp, Progressed
from tui.widgets.answer import Answer
from tui.widgets.bars import LoadBar, TopBar
from tui.widgets.conversation import Conversation
from tui.widgets.message import Question
from tui.widgets.prompt import Prompt
from tui.widgets.sidebar import Chat, Sidebar


@pytest.fixture(scope="module")
def llm():
    return load_llm()


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "history.db") as s:
        yield s


async def until(pilot, done, timeout=60.0):
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < timeout
        await pilot.pause(0.05)


async def settle(pilot, app):
    """Let the running answer finish."""
    await until(pilot, lambda: app.job is None, timeout=180.0)
    await pilot.pause()


async def ask(pilot, app, text):
    prompt = app.query_one(Prompt)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")
    await pilot.pause()


def past_conversation(store, question="What is 2+2?", answer="2+2 = **4**."):
    cid = store.new_conversation(model="default")
    uid = store.add_user(cid, question)
    aid = store.add_message(cid, "assistant", answer, uid, reasoning="Add two and two.",
                            finish_reason="stop", tok_per_s=10.0, duration=1.5, tokens_out=15)
    return cid, uid, aid


async def test_question_thinks_folds_and_lands_in_history(llm, store):
    app = ChatApp(store, Options(think=True, max_thinking_tokens=12, max_tokens=12, seed=1), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app, "What is 2+2?")
        assert app.query_one(Prompt).text == "" and app.query(Answer)
        await settle(pilot, app)
        answer = app.query_one(Answer)
        user, reply = store.thread(app.cid)
        assert (user["role"], user["content"]) == ("user", "What is 2+2?")
        assert reply["role"] == "assistant" and reply["complete"] and reply["reasoning"]
        assert answer.thinking.display and answer.thinking.body.content == reply["reasoning"]
        assert answer.thinking.collapsed and answer.thinking.title.startswith("Thought for ")
        assert reply["content"] and reply["content"] == answer.text
        assert answer.mid == reply["id"] and app.leaf == reply["id"]
        assert "tok/s" in str(app.query_one("#status").render())
        titles = [c.title for c in app.query_one(Sidebar).query(Chat)]
        assert titles == ["What is 2+2?"]


async def test_escape_stops_and_keeps_the_partial_answer(llm, store):
    app = ChatApp(store, Options(think=False, max_tokens=4000, temperature=0.0), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app, "Write a long story about a dragon.")
        await until(pilot, lambda: app.job.tokens >= 3, timeout=120.0)
        app.query_one(Prompt).insert("typed while it streams")  # the UI stays live
        await pilot.press("escape")
        await settle(pilot, app)
        (reply,) = [m for m in store.thread(app.cid) if m["role"] == "assistant"]
        assert not reply["complete"] and reply["finish_reason"] == "interrupted"
        assert reply["content"] and reply["tokens_out"] is None
        answer = app.query_one(Answer)
        assert answer.text == reply["content"] and "incomplete" in answer.note
        assert app.query_one(Prompt).text == "typed while it streams"


async def test_live_updates_are_spaced_and_none_is_left_waiting(llm, store, monkeypatch):
    """An event that comes within 1/UPDATES s of the last shown waits in the job and is shown
    when that time comes, with no later event to prompt it."""
    monkeypatch.setattr(tui_app, "UPDATES", 1)
    app = ChatApp(store, Options(think=False, max_tokens=2, seed=1), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app, "Hi")
        await settle(pilot, app)
        answer = app.query_one(Answer)
        job, before = app.session.job(app.cid, app.leaf), answer.text
        app.job, app.live, app.shown, answer.live, answer.fed = job, answer, 0.0, True, 0
        job.add(AnswerDelta(" one"))
        app.post_message(Progressed(job))
        await pilot.pause()
        job.add(AnswerDelta(" two"))
        app.post_message(Progressed(job))
        await pilot.pause()
        assert answer.text == before + " one"  # shown under a second ago: " two" waits
        await pilot.pause(1.5)
        assert answer.text == before + " one two"
        app.job = None


async def test_sidebar_search_finds_an_old_conversation(llm, store):
    old, uid, _ = past_conversation(store, "How do plants use photosynthesis?", "They turn light into sugar.")
    past_conversation(store, "Name a prime number.", "7")
    app = ChatApp(store, Options(), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        assert [c.cid for c in app.query(Chat)] == [old + 1, old]  # newest first
        await pilot.press("ctrl+f")
        for key in "photosynthesis":
            await pilot.press(key)
        await pilot.pause()
        hits = list(app.query(Chat))
        assert [(h.cid, h.message_id) for h in hits] == [(old, uid)]
        await pilot.press("enter", "enter")  # to the list, then open the hit
        await pilot.pause()
        assert app.cid == old
        assert [q.text for q in app.query(Question)] == ["How do plants use photosynthesis?"]
        assert app.query_one(Answer).text == "They turn light into sugar."


async def test_edit_makes_a_branch_and_versions_switch(llm, store):
    cid, uid, aid = past_conversation(store)
    app = ChatApp(store, Options(think=False, max_tokens=4, seed=0), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.open(cid, None)
        app.query_one(Question).focus()
        await pilot.press("e")
        prompt = app.query_one(Prompt)
        assert prompt.text == "What is 2+2?" and app.query_one("#editing").display
        prompt.text = "What is 3+3?"
        await pilot.press("enter")
        await settle(pilot, app)
        versions = store.siblings(uid)
        assert [v["content"] for v in versions] == ["What is 2+2?", "What is 3+3?"]
        question = app.query_one(Question)
        assert (question.text, question.version) == ("What is 3+3?", (2, 2))
        assert store.message(app.leaf)["parent_id"] == versions[1]["id"]

        question.focus()
        await pilot.press("left")  # back to the first version, with its own answer
        await pilot.pause()
        question = app.query_one(Question)
        assert (question.text, question.version) == ("What is 2+2?", (1, 2))
        assert app.query_one(Answer).mid == aid and app.leaf == aid

        await pilot.press("ctrl+r")  # regenerate: a second version of the answer
        await settle(pilot, app)
        assert [m["id"] for m in store.siblings(aid)][0] == aid and len(store.siblings(aid)) == 2
        assert app.query_one(Answer).version == (2, 2)


async def test_prompt_keys_copy_and_export(llm, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_CACHE_DIR", str(tmp_path / "cache"))  # the model is loaded already
    cid, _, _ = past_conversation(store, answer="Use this:\n\n```python\nprint(4)\n```\n")
    app = ChatApp(store, Options(), llm=llm)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open(cid, None)
        prompt = app.query_one(Prompt)
        prompt.focus()
        await pilot.press("a", "ctrl+j", "b")
        assert prompt.text == "a\nb" and app.job is None  # Ctrl+J is a newline, not a send
        prompt.clear()
        await pilot.press("up")
        assert prompt.text == "What is 2+2?"
        await pilot.press("down")
        assert prompt.text == ""

        await pilot.press("f3")
        assert app.clipboard == "Use this:\n\n```python\nprint(4)\n```\n"
        await pilot.press("f4")
        assert app.clipboard == "print(4)"
        saved = tmp_path / "cache" / "clipboard.txt"
        assert saved.read_text() == "print(4)"  # the fallback where OSC 52 does not reach
        app.copy_to_clipboard("")
        await pilot.click("MarkdownFence")  # a click on a code block copies that block
        assert app.clipboard == "print(4)"

        await pilot.press("f5")
        exported = (tmp_path / "data" / "exports" / f"conversation-{cid}.md").read_text()
        assert "What is 2+2?" in exported and "print(4)" in exported


async def test_rename_and_delete_from_the_sidebar(llm, store):
    cid, _, _ = past_conversation(store)
    app = ChatApp(store, Options(), llm=llm)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#chats").focus()
        await pilot.press("r")
        await pilot.press("ctrl+u", *"Arithmetic", "enter")
        await pilot.pause()
        assert store.conversation(cid)["title"] == "Arithmetic"
        assert [c.title for c in app.query(Chat)] == ["Arithmetic"]
        await pilot.press("d", "y")
        await pilot.pause()
        assert store.conversations() == [] and not app.query(Chat)


async def test_toggles_change_the_next_question(llm, store):
    app = ChatApp(store, Options(), llm=llm)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t", "ctrl+s", "ctrl+s", "ctrl+g")
        opts = app.session.opts
        assert (opts.think, opts.search, opts.branches) == (True, "agentic", 2)
        bar = str(app.query_one(TopBar).toggles.render())
        assert "Think on" in bar and "Search agentic" in bar and "Branches 2" in bar


async def test_model_that_cannot_load_says_so(store, tmp_path):
    app = ChatApp(store, Options(), {"model": str(tmp_path / "missing.gguf")})
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: not app.query_one(LoadBar).bar.display)
        label = str(app.query_one(LoadBar).label.render())
        assert label.startswith("cannot load the model:") and "missing.gguf" in label
        assert app.query_one(Conversation).query(".welcome")


async def test_model_loads_in_the_background_while_the_screen_works(store):
    app = ChatApp(store, Options(), {"model": "default"})
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one(LoadBar).display and "loading default" in str(app.query_one(TopBar).model.render())
        await pilot.press("h", "i")  # typing while the model loads
        assert app.query_one(Prompt).text == "hi"
        await until(pilot, lambda: not app.query_one(LoadBar).display)
        assert "SmolLM2" in str(app.query_one(TopBar).model.render())


def test_chat_needs_a_terminal(tmp_path):
    done = subprocess.run([sys.executable, "-m", "app", "chat", "--db", str(tmp_path / "h.db")],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("sikao: error: sikao chat needs an interactive terminal "
                                   "(use `sikao ask` in scripts)")


def test_chat_starts_and_quits_in_a_real_terminal(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: `sikao chat` on a pseudo-terminal of 80×24
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "app", "chat", "--db", str(tmp_path / "h.db")])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen, deadline = b"", time.monotonic() + 60
    while b"Ask anything" not in seen:
        assert time.monotonic() < deadline, seen[-2000:]
        if select.select([fd], [], [], 0.2)[0]:
            seen += os.read(fd, 65536)
    os.write(fd, b"\x11")  # Ctrl+Q
    while select.select([fd], [], [], 30)[0]:
        try:
            seen += os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and b"Traceback" not in seen
