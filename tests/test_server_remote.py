"""The remote engine against a real `sikao serve` subprocess (the bundled model on a loopback
port): the same answers as the local engine, stop strings, fork and append, the reasoning graph
end to end, chat mode without a tokenizer, and `sikao ask` pointed at the server."""
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
import torch

from app.common import load_llm
from app.errors import UserError
from engine import LLM, EngineConfig, SamplingParams
from engine.chat import build_prompt
from engine.errors import ModelError
from engine.remote import RemoteLLM
from engine.remote_stream import RemoteError
from reasoning.events import AnswerDelta, Done, ThinkingDelta
from reasoning.options import Options
from reasoning import run

KEY = "remote-key"


@pytest.fixture(scope="module")
def url():
    # the exact fp32 model: tests compare tokens across paths (a prefix-cache hit decodes the
    # prompt's last token where a miss prefills it), which quantized activations may tell apart
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", "0", "--api-key", KEY,
                             "--max-tokens", "64", "--quant", "none"], stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stderr:  # warnings may come first
        seen.append(line)
        if found := re.search(r"http://\S+/v1", line):
            break
    else:
        pytest.fail("sikao serve did not start:\n" + "".join(seen))
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # a full pipe would block it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(found.group(0).replace("/v1", "/health")).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield found.group(0)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def local():
    """The reference engine, on one thread: the server process decodes on the same cores."""
    threads = torch.get_num_threads()
    yield LLM(EngineConfig(threads=1, quant="none"))
    torch.set_num_threads(threads)


@pytest.fixture
def remote(url):
    return RemoteLLM(url, api_key=KEY)


def greedy(n, stop=()):
    return SamplingParams(temperature=0, max_tokens=n, stop=list(stop))


def chat(llm, text, think=False):
    return build_prompt(llm.tokenizer, [{"role": "user", "content": text}], think=think)


def test_remote_answers_as_the_local_engine_does(remote, local):
    assert not remote.chat and remote.name == local.name
    prompts = [chat(local, "Name a fruit."), chat(local, "What is 3 times 3?")]
    there, here = remote.generate(prompts, greedy(10)), local.generate(prompts, greedy(10))
    for a, b in zip(there, here):
        assert (a.text, a.finish_reason, a.prompt_tokens) == (b.text, b.finish_reason, b.prompt_tokens)
        assert len(a.logprobs) == len(b.token_ids)
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)


def test_stop_strings_then_append_continue_like_the_local_engine(remote, local):
    prompt = chat(local, "Write one sentence about the sea.")
    text = local.generate([prompt], greedy(12))[0].text
    word = text.split()[2]
    results = []
    for llm in (remote, local):
        sid = llm.add(prompt, greedy(12, stop=[word]))
        outs = []
        while not llm.seq(sid).finished:
            outs += [o for o in llm.step() if o.seq_id == sid]
        llm.append(sid, " and", greedy(4))
        while not llm.seq(sid).finished:
            outs += [o for o in llm.step() if o.seq_id == sid]
        results.append(("".join(o.text for o in outs), [o.stop_str for o in outs if o.finished]))
        llm.drop(sid)
    assert results[0] == results[1]
    assert results[0][1][0] == word


def test_fork_continues_the_prefix_in_independent_requests(remote):
    sid = remote.add(chat(remote, "Count to five."), greedy(6))
    first = remote.step()
    kids = remote.fork(sid, 2)
    while remote.has_running():
        remote.step()
    texts = {remote.seq(s).output_text for s in (sid, *kids)}
    assert len(texts) == 1 and first[0].text and texts.pop().startswith(first[0].text)
    for s in (sid, *kids):
        remote.drop(s)
    assert not remote.seqs


@pytest.mark.parametrize("tokenizer", ["auto", None])
def test_reasoning_graph_end_to_end_through_the_remote_engine(url, tokenizer):
    llm = RemoteLLM(url, api_key=KEY, tokenizer=tokenizer)
    assert llm.chat == (tokenizer is None)
    events = list(run(llm, "What is 2+2?", Options(think=True, max_tokens=16, max_thinking_tokens=16)))
    done = events[-1]
    assert isinstance(done, Done) and done.stats.model == llm.name
    thought = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert thought.strip() == done.reasoning and answer.strip() == done.answer
    assert 0 < done.stats.thinking_tokens <= 16 and 0 < done.stats.answer_tokens <= 16
    assert not llm.seqs


def test_chat_mode_splits_the_thought_where_raw_mode_does(url, remote):
    chat_mode = RemoteLLM(url, api_key=KEY, tokenizer=None)
    stop = ["</think>"]
    raw = remote.generate([chat(remote, "Is 9 odd?", think=True)], greedy(24, stop))[0]
    via_chat = chat_mode.generate([chat(chat_mode, "Is 9 odd?", think=True)], greedy(24, stop))[0]
    assert via_chat.text == raw.text and via_chat.finish_reason == raw.finish_reason


def test_sikao_ask_runs_against_the_server(url, tmp_path):
    env = {**os.environ, "SIKAO_API_KEY": KEY}
    done = subprocess.run([sys.executable, "-m", "app", "ask", "--engine", url, "--no-log",
                           "--max-tokens", "8", "--temperature", "0", "--json", "Say hi."],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"type": "AnswerDelta"' in done.stdout and '"type": "Done"' in done.stdout


def test_remote_failures_are_one_line_engine_errors(url, remote):
    with pytest.raises(ModelError, match="401"):
        RemoteLLM(url, api_key="wrong")
    with pytest.raises(ModelError, match="does not serve 'nope'"):
        RemoteLLM(url, model="nope", api_key=KEY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(ModelError, match="can't reach"):
        RemoteLLM(f"http://127.0.0.1:{free}")
    remote.add(chat(remote, "hi"), greedy(1000))  # over the server's --max-tokens 64
    with pytest.raises(RemoteError, match="at most 64"):
        remote.step()


def test_serve_reports_a_taken_port_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        done = subprocess.run([sys.executable, "-m", "app", "serve", "--port",
                               str(s.getsockname()[1])], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("sikao: error: can't serve on 127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_load_llm_takes_an_engine_url_or_a_url_as_the_model(url, monkeypatch):
    monkeypatch.setenv("SIKAO_API_KEY", KEY)
    assert isinstance(load_llm(model=url), RemoteLLM)
    assert load_llm(engine=url, model="default").name == load_llm(model=url).name
    with pytest.raises(UserError, match="can't reach"):
        load_llm(engine="http://127.0.0.1:1/v1")
