"""`sikao chat`: the Textual chat application. The screen renders the reasoning event stream and
the history store; all generation goes through tui/session.py in a worker thread."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict
from functools import partial

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Static

from reasoning import Options
from tui.actions import Actions
from tui.session import Job, Session
from tui.widgets.answer import Answer, facts
from tui.widgets.bars import LoadBar, StatusLine, TopBar
from tui.widgets.conversation import Conversation, version_of
from tui.widgets.prompt import Prompt
from tui.widgets.sidebar import Sidebar

# Live answer updates a second, at most (Rich's Live makes 4). Each has Textual lay out and
# repaint the screen, ~7 ms of the main thread, which shares the cores with the engine. Measured
# headless, 2 cores, 512 tokens, medians of 4: 10 a second 450 tok/s (engine on both cores;
# 371 on one), 15: 316, 20: 285, one a delta (up to 60): 250-310. The CLI decodes at ~700.
UPDATES = 10


class Progressed(Message):
    """Posted by the worker thread: the job has new events to show."""

    def __init__(self, job: Job, finished: bool = False):
        super().__init__()
        self.job, self.finished = job, finished


class Loading(Message):
    """Posted by the loading thread: progress, failure, or done."""

    def __init__(self, text: str = "", fraction: float | None = None, failed: bool = False,
                 done: bool = False):
        super().__init__()
        self.text, self.fraction, self.failed, self.done = text, fraction, failed, done


class ChatApp(Actions, App):
    CSS_PATH = "app.tcss"
    TITLE = "sikao"
    BINDINGS = [
        Binding("escape", "stop", "Stop", show=False),
        Binding("ctrl+n", "new_chat", "New"),
        Binding("ctrl+b", "toggle_sidebar", "History"),
        Binding("ctrl+f", "find", "Find", show=False),
        Binding("ctrl+t", "toggle_think", "Think", show=False),
        Binding("ctrl+s", "cycle_search", "Search", show=False),
        Binding("ctrl+g", "cycle_branches", "Branches", show=False),
        Binding("ctrl+o", "toggle_thoughts", "Thoughts"),
        Binding("ctrl+r", "regenerate", "Retry"),
        Binding("f3", "copy", "Copy"),
        Binding("f4", "copy_code", "Code"),
        Binding("f5", "export", "Export"),
        Binding("f2", "toggle_theme", "Theme"),
    ]

    def __init__(self, store, opts: Options | None = None, model_args: dict | None = None, llm=None):
        super().__init__()
        self.store = store
        self.session = Session(store, opts or Options(), model_args or {}, llm)
        self.cid: int | None = None  # the conversation on screen
        self.leaf: int | None = None  # the last message of the thread on screen
        self.job: Job | None = None  # the answer being generated, if any (one at a time)
        self.live: Answer | None = None  # its widget, while its thread is on screen
        self.editing: dict | None = None  # the question being edited into a new version
        self.shown = 0.0  # when the live answer last took new events
        self.due = None  # the timer that shows the next ones, while one is set

    def compose(self):
        yield TopBar(id="top")
        with Horizontal(id="main"):
            yield Sidebar(self.store, id="sidebar")
            with Vertical(id="chat"):
                yield LoadBar(id="loading")
                yield Conversation(id="conversation")
                yield Static(id="editing")
                yield Prompt(id="prompt", placeholder="Ask anything…")
        yield StatusLine(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(Sidebar).display = self.size.width >= 100
        self.query_one("#editing").display = False
        self.redraw_top()
        await self.open(None, None)
        await self.query_one(Sidebar).reload()
        self.query_one(Prompt).focus()
        self.set_interval(0.5, self.tick_live)
        if self.session.llm is None:
            self.load_model()
        else:
            self.query_one(LoadBar).display = False

    def on_unmount(self) -> None:
        if self.job:  # the recorder keeps what was generated, marked incomplete
            self.job.stop.set()

    # the model

    def load_model(self) -> None:
        # A daemon thread, not a Textual worker: quitting while the model loads must not wait
        # for the load (the app joins its workers on the way out).
        threading.Thread(target=self.load, daemon=True, name="sikao-load").start()

    def load(self) -> None:
        try:
            self.session.model(progress=lambda text, fraction: self.post_message(Loading(text, fraction)))
        except Exception as err:  # UserError from load_llm; anything else would freeze the bar
            self.post_message(Loading(f"cannot load the model: {err}", failed=True))
            return
        self.post_message(Loading(done=True))

    def on_loading(self, message: Loading) -> None:
        bar = self.query_one(LoadBar)
        if message.failed:
            bar.failed(message.text)
        elif message.done:
            bar.display = False
            self.redraw_top()
        else:
            bar.progress(message.text, message.fraction)

    def redraw_top(self) -> None:
        opts, llm = self.session.opts, self.session.llm
        model = llm.name if llm else f"loading {self.session.model_args.get('model') or 'default'}…"
        # the mode in use once loaded ("auto" resolved; a remote engine has none of its own)
        quant = getattr(llm, "quant", None) or self.session.model_args.get("quant") or "auto"
        self.query_one(TopBar).show(model, quant, opts.think, opts.search, opts.branches)

    # asking

    @on(Prompt.Submitted)
    async def submit(self, event: Prompt.Submitted) -> None:
        if self.job:
            self.notify("Still answering: Esc stops it.", severity="warning")
            return
        self.query_one(Prompt).clear()
        if self.cid is None:
            llm, spec = self.session.llm, self.session.model_args.get("model") or "default"
            self.cid = self.store.new_conversation(model=llm.name if llm else spec,
                                                   settings=asdict(self.session.opts))
        parent = self.editing["parent_id"] if self.editing else self.leaf
        self.cancel_edit()
        await self.ask(self.store.add_user(self.cid, event.text, parent))

    async def ask(self, user_id: int) -> None:
        self.job = self.session.job(self.cid, user_id)
        await self.open(self.cid, user_id)
        self.query_one(Prompt).focus()  # the turn that asked (regenerate) may be gone from the screen
        self.generate(self.job)
        await self.query_one(Sidebar).reload(self.cid)

    @work(thread=True, group="answer")
    def generate(self, job: Job) -> None:
        self.session.generate(job, lambda job: self.post_message(Progressed(job)))
        self.post_message(Progressed(job, finished=True))

    async def on_progressed(self, message: Progressed) -> None:
        """Show the job's new events: at once if the last were shown 1/UPDATES s ago or more,
        else when that time comes (they wait in job.events)."""
        if message.finished:
            await self.show(message.job)
            await self.finished(message.job)
            self.tick()
        elif self.due is None:
            wait = self.shown + 1 / UPDATES - time.monotonic()
            if wait > 0:
                self.due = self.set_timer(wait, partial(self.show, message.job))
            else:
                await self.show(message.job)

    async def show(self, job: Job) -> None:
        if self.due is not None:
            self.due.stop()
            self.due = None
        live = self.live
        while live is not None and live.fed < len(job.events):
            at, event = job.events[live.fed]
            live.fed += 1
            await live.feed(event, at)
        self.shown = time.monotonic()  # the status line's numbers move on with tick_live

    async def finished(self, job: Job) -> None:
        self.job = None
        live, self.live = self.live, None
        if live is not None and live.live:  # stopped or failed: keep what streamed
            await live.finish(None, time.monotonic(), "incomplete")
        if job.message_id is not None:
            if self.cid == job.cid and self.leaf == job.user_id:
                self.leaf = job.message_id
            if live is not None:
                row = self.store.message(job.message_id)
                live.mid, live.version = job.message_id, version_of(self.store, job.message_id)
                live.note = facts(row["tok_per_s"], row["duration"], row["finish_reason"], row["complete"])
                live.redraw()
        await self.query_one(Sidebar).reload(self.cid)

    def tick_live(self) -> None:
        if self.job is not None:  # elapsed and tok/s move on between events too
            self.tick()

    def tick(self) -> None:
        """The status line: the live job's numbers, else those of the last answer on screen."""
        status, job = self.query_one(StatusLine), self.job
        if job is not None:
            now = time.monotonic()
            state = "■ stopping…" if job.stop.is_set() else "● answering"
            status.numbers(job.tokens, job.tok_per_s(now), now - job.started, job.searches, state)
            return
        answer = self.query_one(Conversation).last_answer()
        row = self.store.message(answer.mid) if answer is not None and answer.mid is not None else None
        if row is None or not row["tokens_out"]:  # nothing measured (none yet, or stopped)
            status.update("")
            return
        status.numbers(row["tokens_out"], row["tok_per_s"] or 0.0, row["duration"] or 0.0, len(answer.cards))

    # what is on screen

    async def open(self, cid: int | None, leaf: int | None) -> None:
        """Show the thread of `cid` ending at `leaf`; the live answer joins it if it belongs there."""
        self.cid = cid
        conversation = self.query_one(Conversation)
        thread = await conversation.show(self.store, cid, leaf, self.job)
        self.live = conversation.live
        if self.live is not None:
            await self.on_progressed(Progressed(self.job))
        self.leaf = thread[-1]["id"] if thread else None
        self.query_one(Prompt).remember([m["content"] for m in thread if m["role"] == "user"])
        self.query_one(Sidebar).select(cid)
        self.tick()

    @on(Sidebar.Open)
    async def open_chat(self, event: Sidebar.Open) -> None:
        self.cancel_edit()
        await self.open(event.cid, self.store.leaf(event.cid, under=event.message_id))
        if event.message_id is not None and (turn := self.query_one(Conversation).find(event.message_id)):
            self.query_one(Conversation).scroll_to_widget(turn, animate=False, top=True)

    async def action_new_chat(self) -> None:
        self.cancel_edit()
        await self.open(None, None)
        self.query_one(Prompt).focus()

    async def action_older(self, mid: int) -> None:
        await self.switch(mid, -1)

    async def action_newer(self, mid: int) -> None:
        await self.switch(mid, 1)

    async def switch(self, mid: int, step: int) -> None:
        """Show the thread through the previous / next version of message `mid`."""
        ids = [m["id"] for m in self.store.siblings(mid)]
        target = ids[max(0, min(len(ids) - 1, ids.index(mid) + step))]
        if target != mid:
            await self.open(self.cid, self.store.leaf(self.cid, under=target))
            if turn := self.query_one(Conversation).find(target):
                turn.focus()

    def action_edit(self, mid: int) -> None:
        self.editing = self.store.message(mid)
        banner = self.query_one("#editing", Static)
        banner.update("[b]Editing a question[/b]: Enter sends it as a new version · Esc cancels")
        banner.display = True
        prompt = self.query_one(Prompt)
        prompt.put(self.editing["content"])
        prompt.focus()

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.query_one("#editing").display = False
            self.query_one(Prompt).clear()

    async def action_regenerate(self, mid: int | None = None) -> None:
        answer = self.target(mid)
        if self.job:
            self.notify("Still answering: Esc stops it.", severity="warning")
        elif answer is not None and answer.mid is not None:
            await self.ask(self.store.message(answer.mid)["parent_id"])

    def action_stop(self) -> None:
        if self.job is not None:
            self.job.stop.set()
            self.tick()
        else:
            self.cancel_edit()
