"""`sikao eval run`: generate answers for a benchmark through the engine and score them.

Sampled runs keep the engine's batch full: all samples of a problem are added together and the next
problem joins as soon as there is room, so one long answer never holds the batch back. Code tests run
beside generation (they can take seconds), and each problem is appended to the run's JSONL as
soon as it is scored: an interrupted run resumes from there, skipping the ids it finds."""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

from app.errors import UserError
from evals import data
from evals.data import Problem
from evals.metrics import summarize
from evals.prompts import user_message
from evals.score import score
from evals.store import Registry, Run


@dataclass
class RunConfig:
    dataset: str
    limit: int | None = None
    n: int = 1  # samples per problem
    branches: int | None = None  # K branches per problem, through reasoning.run
    think: bool = False
    temperature: float = 0.6  # R1's protocol
    top_p: float = 0.95
    max_tokens: int = 4096
    seed: int = 0
    batch: int = 32  # sequences in flight; does not change results, so not part of params()

    def params(self) -> dict:
        """What identifies a run, and so which interrupted run a new call resumes."""
        p = asdict(self)
        del p["dataset"], p["batch"]
        return p


@dataclass
class Plan:
    run: Run
    todo: list[tuple[int, Problem]]  # (position in the dataset, problem) still to do
    total: int
    kind: str


def problems(cfg: RunConfig, data_path=None) -> list[Problem]:
    """The problems to run, checked before any model is loaded."""
    chosen = data.load(cfg.dataset, data_path)[:cfg.limit]
    if not chosen:
        raise UserError(f"{cfg.dataset}: no problems to run")
    return chosen


def plan(cfg: RunConfig, chosen: list[Problem], model: str, registry: Registry) -> Plan:
    """The run to work on: an interrupted one with the same settings, else a new one."""
    run = registry.unfinished(cfg.dataset, model, cfg.params()) or \
        registry.create(cfg.dataset, model, cfg.params())
    done = {str(r["id"]) for r in registry.samples(run.id)}
    todo = [(i, p) for i, p in enumerate(chosen) if str(p.id) not in done]
    return Plan(run, todo, len(chosen), chosen[0].kind)


def execute(llm, cfg: RunConfig, plan: Plan, registry: Registry, progress=None) -> dict:
    """Generate, score and store every open problem, then finish the run; returns its metrics."""
    run, elapsed, t0 = plan.run, plan.run.metrics.get("elapsed", 0.0), time.monotonic()
    work = _branches if cfg.branches else _samples
    with ThreadPoolExecutor(2) as scorer:
        for problem, records in work(llm, cfg, plan.todo, scorer):
            registry.append(run.id, records)
            # Time up to the last stored problem, so work lost to an interrupt is not counted.
            registry.save_metrics(run.id, {"elapsed": elapsed + time.monotonic() - t0})
            if progress:
                progress(problem, records)
    elapsed = registry.get(run.id).metrics.get("elapsed", 0.0)
    records = registry.samples(run.id)
    metrics = {**summarize(records, plan.kind, elapsed), "elapsed": elapsed}
    if cfg.branches and records:
        # The vote that reasoning.run made, and the tokens of every branch, pruned ones included.
        per_problem = {str(r["id"]): r for r in records}.values()
        metrics["voted"] = sum(r["vote_correct"] for r in per_problem) / len(per_problem)
        tokens = sum(r["problem_tokens"] for r in per_problem)
        metrics["tokens_per_problem"] = tokens / len(per_problem)
        metrics["tok_per_s"] = tokens / elapsed if elapsed else 0.0
    registry.finish(run.id, metrics)
    return metrics


def _samples(llm, cfg: RunConfig, todo, scorer):
    problems, queue, live, outs, pending, ready = dict(todo), deque(todo), {}, {}, set(), deque()

    def collect(i: int) -> None:
        if not all(outs[i]):
            return
        p, got = problems[i], outs.pop(i)
        if p.kind == "math":  # here, on the main thread, where math-verify's timeouts work
            ready.append(_score_samples(p, got))
        else:  # code tests take seconds: they run beside generation
            pending.add(scorer.submit(_score_samples, p, got))

    try:
        while queue or live or pending or ready:
            while queue and len(live) + cfg.n <= max(cfg.batch, cfg.n):
                i, p = queue.popleft()
                outs[i] = [None] * cfg.n
                for j, sid in enumerate(_add(llm, cfg, i, p)):
                    if sid is None:
                        outs[i][j] = ("", 0, "prompt_too_long")
                    else:
                        live[sid] = (i, j)
                collect(i)
            if live:
                for out in llm.step():
                    if out.finished and out.seq_id in live:
                        i, j = live.pop(out.seq_id)
                        seq = llm.seq(out.seq_id)
                        outs[i][j] = (seq.output_text, seq.generated, seq.finish_reason)
                        llm.drop(out.seq_id)
                        collect(i)
            elif pending:
                wait(pending, return_when=FIRST_COMPLETED)
            for f in [f for f in pending if f.done()]:
                pending.discard(f)
                ready.append(f.result())
            while ready:
                yield ready.popleft()
    finally:
        for sid in live:  # interrupted: free the engine for whoever uses it next
            llm.drop(sid)


def _add(llm, cfg: RunConfig, i: int, p: Problem) -> list[int | None]:
    """Queue the samples of problem i; [None] * n when its prompt does not fit the model. The
    prompt is prefilled once and forked, so n samples cost one prefill. Seeds follow the problem's
    place in the dataset (the engine gives forks seed+1, seed+2…), so a resumed run draws the same
    samples a straight one would."""
    from engine.chat import build_prompt
    from engine.errors import PromptTooLong
    from engine.sampling import SamplingParams

    prompt = build_prompt(llm.tokenizer, [{"role": "user", "content": user_message(p)}],
                          think=cfg.think)
    params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                            max_tokens=cfg.max_tokens, seed=cfg.seed + i * cfg.n)
    try:
        sid = llm.add(prompt, params)
    except PromptTooLong:
        return [None] * cfg.n
    return [sid, *llm.fork(sid, cfg.n - 1)] if cfg.n > 1 else [sid]


def _score_samples(p: Problem, outs: list[tuple[str, int, str]]):
    scored = score([p] * len(outs), [text for text, _, _ in outs], workers=4)
    return p, [{"id": p.id, "sample": j, "output": text, "extracted": s.extracted,
                "correct": s.correct, "status": s.status, "tokens": tokens, "finish_reason": why}
               for j, ((text, tokens, why), s) in enumerate(zip(outs, scored))]


def _branches(llm, cfg: RunConfig, todo, scorer):
    """One reasoning.run per problem with K branches; a record per branch (pruned ones too) with
    its confidence, so the report can set the weighted vote against self-consistency."""
    from reasoning import Options, run
    from reasoning.events import BranchFinished, BranchPruned, Done

    for i, p in todo:
        opts = Options(think=cfg.think, branches=cfg.branches, temperature=cfg.temperature,
                       top_p=cfg.top_p, seed=cfg.seed + i, max_tokens=cfg.max_tokens,
                       max_thinking_tokens=cfg.max_tokens)
        ends: dict[int, BranchFinished | BranchPruned] = {}
        done = Done("")
        for ev in run(llm, user_message(p), opts):
            if isinstance(ev, (BranchFinished, BranchPruned)):
                ends[ev.branch] = ev
            elif isinstance(ev, Done):
                done = ev
        order = sorted(ends)
        finished = [isinstance(ends[b], BranchFinished) for b in order]
        texts = [done.answer] + [ends[b].answer if f else "" for b, f in zip(order, finished)]
        vote, *scored = score([p] * len(texts), texts, workers=4)
        total = done.stats.thinking_tokens + done.stats.answer_tokens
        yield p, [{"id": p.id, "sample": b, "output": texts[k + 1], "extracted": s.extracted,
                   "correct": s.correct, "confidence": ends[b].confidence, "pruned": not f,
                   "tokens": ends[b].tokens if f else None, "problem_tokens": total,
                   "vote": vote.extracted, "vote_correct": vote.correct}
                  for k, (b, f, s) in enumerate(zip(order, finished, scored))]
