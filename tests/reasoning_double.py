"""A scripted stand-in for engine.LLM, used only where a decision must be forced that the bundled
135M model will not take (writing Search-o1 tags, chosen confidences). Same surface as the
engine: add / step / fork / drop / append / seq / tokenizer / name, and the engine's stop rules:
a stop string ends the turn, is not emitted, and stays in the sequence's context.

A script is a list of tokens, each a string or (string, confidence). `rules` pick the script of
an added prompt by substring (first match); forked sequences take `forks` in order."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.sequence import StepOutput


@dataclass
class Seq:
    id: int
    params: object
    context: str  # prompt + generated + appended: what the model would see
    script: list
    n_prompt: int
    pos: int = 0
    generated: int = 0  # since the last add / append
    segment: str = ""  # text generated since the last add / append
    output_text: str = ""
    status: str = "running"
    finish_reason: str | None = None
    outputs: list[StepOutput] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status == "finished"


class Scripted:
    def __init__(self, tokenizer, rules: list[tuple[str, list]], forks: list[list] = ()):
        self.tokenizer, self.name = tokenizer, "scripted"
        self.rules, self.forks = rules, list(forks)
        self.seqs: dict[int, Seq] = {}
        self.prompts: list[str] = []  # every added prompt, in order
        self.appended: list[tuple[int, str]] = []
        self.dropped: dict[int, Seq] = {}
        self.next_id = 0

    def _new(self, params, context: str, script: list, n_prompt: int) -> int:
        sid, self.next_id = self.next_id, self.next_id + 1
        self.seqs[sid] = Seq(sid, params, context, list(script), n_prompt)
        return sid

    def add(self, prompt: str, params) -> int:
        self.prompts.append(prompt)
        script = next((s for key, s in self.rules if key in prompt), [])
        return self._new(params, prompt, script, len(self.tokenizer.encode(prompt)))

    def seq(self, sid: int) -> Seq:
        return self.seqs[sid]

    def fork(self, sid: int, n: int, params=None) -> list[int]:
        parent = self.seqs[sid]
        return [self._new(params or parent.params, parent.context, self.forks.pop(0), parent.n_prompt)
                for _ in range(n)]

    def drop(self, sid: int) -> None:
        seq = self.seqs.pop(sid, None)
        if seq is not None:
            self.dropped[sid] = seq

    def append(self, sid: int, text: str, params=None) -> None:
        seq = self.seqs[sid]
        self.appended.append((sid, text))
        seq.context += text
        seq.params = params or seq.params
        seq.generated, seq.segment, seq.status, seq.finish_reason = 0, "", "running", None

    def step(self) -> list[StepOutput]:
        return [self._advance(s) for s in list(self.seqs.values()) if s.status == "running"]

    def _advance(self, seq: Seq) -> StepOutput:
        if seq.pos >= len(seq.script):  # end of script: an EOS token, no text, as sure as the last
            last = seq.script[seq.pos - 1] if seq.pos else ""
            out = StepOutput(seq.id, 0, "", -0.1, 1.0 if isinstance(last, str) else last[1], True, "stop")
        else:
            tok = seq.script[seq.pos]
            text, conf = (tok, 1.0) if isinstance(tok, str) else tok
            seq.pos += 1
            seq.generated += 1
            seq.context += text
            before, seq.segment = len(seq.segment), seq.segment + text
            out = StepOutput(seq.id, seq.pos, text, -0.1, conf)
            for stop in seq.params.stop:
                at = seq.segment.find(stop)
                if at >= 0:
                    out.text, out.stop_str = seq.segment[before:at] if at > before else "", stop
                    out.finished, out.finish_reason = True, "stop"
                    break
            else:
                if seq.generated >= seq.params.max_tokens:
                    out.finished, out.finish_reason = True, "length"
        seq.output_text += out.text
        seq.outputs.append(out)
        if out.finished:
            seq.status, seq.finish_reason = "finished", out.finish_reason
        return out
