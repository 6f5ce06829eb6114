"""`sikao serve`'s HTTP API with the real bundled model, served by uvicorn on a loopback port in a
thread of the test, driven by the official openai client and by raw HTTP."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import uvicorn

from engine import LLM, EngineConfig
from engine.chat import build_prompt
from engine.serve import ServeConfig, Server, bind, create_app

KEY = "test-key"


@pytest.fixture(scope="module")
def served():
    server = Server(LLM(EngineConfig(quant="none")), ServeConfig(api_key=KEY, max_tokens=64, cache_size=16))
    sock = bind("127.0.0.1", 0)
    web = uvicorn.Server(uvicorn.Config(create_app(server), log_level="warning"))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not web.started:
        time.sleep(0.05)
    yield server, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    web.should_exit = True
    thread.join(10)


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=served[1], api_key=KEY, max_retries=0)


def post(url, path, body, key=KEY, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(url + path, headers=headers, timeout=60, **kw, **(
        {"content": body} if isinstance(body, (str, bytes)) else {"json": body}))


def ask(text):
    return [{"role": "user", "content": text}]


def test_models_lists_the_served_model_with_its_root(served, client):
    server, _ = served
    [card] = client.models.list().data
    assert card.id == server.model == server.llm.name
    assert card.model_extra["root"] == str(server.llm.path)


def test_chat_stream_and_whole_agree_and_count_tokens(client):
    stream = client.chat.completions.create(
        model="default", messages=ask("Name a color."), max_tokens=8, temperature=0, stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens <= 8
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    whole = client.chat.completions.create(model="default", messages=ask("Name a color."),
                                           max_tokens=8, temperature=0)
    assert text and whole.choices[0].message.content == text
    assert [whole.choices[0].finish_reason] == finish
    assert whole.usage.prompt_tokens == chunks[-1].usage.prompt_tokens > 0
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens


def test_thinking_streams_reasoning_under_both_names(client):
    stream = client.chat.completions.create(
        model="default", messages=ask("Is 7 prime?"), max_tokens=10, temperature=0, stream=True,
        extra_body={"think": True})
    deltas = [c.choices[0].delta.model_extra for c in stream if c.choices]
    reasoning = "".join(d.get("reasoning") or "" for d in deltas)
    assert reasoning and reasoning == "".join(d.get("reasoning_content") or "" for d in deltas)
    whole = client.chat.completions.create(model="default", messages=ask("Is 7 prime?"),
                                           max_tokens=10, temperature=0, extra_body={"think": True})
    message = whole.choices[0].message.model_extra
    assert message["reasoning"] == message["reasoning_content"] == reasoning


def test_completions_with_logprobs_and_stop(client):
    out = client.completions.create(model="default", prompt="The capital of France is",
                                    max_tokens=6, temperature=0, logprobs=1)
    choice = out.choices[0]
    assert choice.text.strip().startswith("Paris")
    assert len(choice.logprobs.token_logprobs) == out.usage.completion_tokens
    assert all(lp <= 0 for lp in choice.logprobs.token_logprobs)
    word = choice.text.split()[0]
    stopped = client.completions.create(model="default", prompt="The capital of France is",
                                        max_tokens=6, temperature=0, stop=[word], stream=True)
    chunks = list(stopped)
    assert "".join(c.choices[0].text for c in chunks).strip() == ""
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].model_extra["stop_reason"] == word


def test_deterministic_requests_come_from_the_cache(served, client):
    server, _ = served
    before = server.metrics.cache.get(result="hit")
    kw = dict(model="default", prompt="One, two, three,", max_tokens=5, temperature=0)
    first, second = client.completions.create(**kw), client.completions.create(**kw)
    assert server.metrics.cache.get(result="hit") == before + 1
    assert first.choices[0].text == second.choices[0].text and first.id != second.id
    client.completions.create(**{**kw, "temperature": 0.7, "seed": 1})  # sampled: not cached
    assert server.metrics.cache.get(result="hit") == before + 1


def test_eight_concurrent_streams_decode_together(served, client):
    server, url = served
    batched = server.metrics.batched_steps.get()
    questions = [f"What is {n} plus {n}?" for n in range(8)]

    def stream(q):
        chunks = client.chat.completions.create(model="default", messages=ask(q), max_tokens=12,
                                                temperature=0, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks)

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(stream, questions))
    assert server.metrics.batched_steps.get() > batched
    assert "sikao_batch_size_bucket" in httpx.get(url.replace("/v1", "/metrics"),
                                                  headers={"Authorization": f"Bearer {KEY}"}).text
    # Each batched answer is what the model says to that prompt alone (raw completions: no cache).
    for q, text in zip(questions, texts):
        prompt = build_prompt(server.llm.tokenizer, ask(q), think=False)
        alone = client.completions.create(model="default", prompt=prompt, max_tokens=12, temperature=0)
        assert text == alone.choices[0].text


def test_a_client_leaving_mid_stream_is_dropped_while_others_are_served(served, client):
    server, url = served
    made = server.metrics.generation_tokens.get()
    body = {"messages": ask("Tell me a long story."), "max_tokens": 64, "stream": True,
            "ignore_eos": True}
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(client.chat.completions.create, model="default", messages=ask("Say hi."),
                            max_tokens=16, temperature=0.8, extra_body={"ignore_eos": True})
        with httpx.stream("POST", url + "/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {KEY}"}) as r:
            lines = [line for _, line in zip(range(6), r.iter_lines())]
    assert any(line.startswith("data:") for line in lines)
    assert other.result(timeout=60).usage.completion_tokens == 16
    deadline = time.monotonic() + 10
    while server.llm.seqs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.llm.seqs
    assert server.metrics.generation_tokens.get() - made < 64 + 16
    assert client.completions.create(model="default", prompt="Hi", max_tokens=2).choices[0].text


def test_a_client_leaving_a_graph_request_stops_its_branches(served):
    server, url = served
    body = {"messages": ask("Tell me a long story."), "max_tokens": 64, "stream": True,
            "branches": 2, "think": True, "max_thinking_tokens": 64}
    with httpx.stream("POST", url + "/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        thinking = any('"ThinkingDelta"' in line for line in r.iter_lines())  # stops at the first
    assert thinking

    def busy():
        return server.llm.seqs or any(t.name == "sikao-graph" for t in threading.enumerate())

    made, started = server.metrics.generation_tokens.get(), time.monotonic()
    while busy() and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert not busy()
    # the sequences leave the batch as soon as the server sees the client go, not the 2 x 128
    # tokens of a full run (a fast machine still makes a few steps before the disconnect lands)
    assert server.metrics.generation_tokens.get() - made < 32


def test_graph_modes_run_through_the_reasoning_layer(client):
    out = client.chat.completions.create(model="default", messages=ask("What is 2+2?"), max_tokens=6,
                                         extra_body={"branches": 2, "think": True,
                                                     "max_thinking_tokens": 6})
    message = out.choices[0].message
    assert message.content and message.model_extra["reasoning"]
    assert out.usage.completion_tokens > 0
    stream = client.chat.completions.create(model="default", messages=ask("What is 2+2?"),
                                            max_tokens=6, stream=True, extra_body={"branches": 2})
    events = [c.model_extra["sikao"]["type"] for c in stream if "sikao" in c.model_extra]
    assert "BranchStarted" in events and events[-1] == "Done"


@pytest.mark.parametrize("body, status, param", [
    ('{"messages": [', 400, None),  # malformed JSON
    ({"model": "default"}, 400, "messages"),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages[0].role"),
    ({"messages": ask("hi"), "max_tokens": 10 ** 9}, 400, "max_tokens"),
    ({"messages": ask("hi"), "max_tokens": -1}, 400, "max_tokens"),
    ({"messages": ask("hi"), "max_tokens": "lots"}, 400, "max_tokens"),
    ({"messages": ask("hi"), "temperature": -1}, 400, "temperature"),
    ({"messages": ask("hi"), "n": 3}, 400, "n"),
    ({"model": "gpt-9", "messages": ask("hi")}, 404, "model"),
    ({"messages": ask("hi"), "search": "everywhere"}, 400, "search"),
])
def test_bad_requests_get_openai_error_objects(served, body, status, param):
    r = post(served[1], "/chat/completions", body)
    assert r.status_code == status
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param


def test_limits_keys_and_unknown_routes(served, client):
    url = served[1]
    for key in (None, "wrong"):
        r = post(url, "/chat/completions", {"messages": ask("hi")}, key=key)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert post(url, "/completions", b"x" * (2 << 20)).status_code == 413
    assert post(url, "/nowhere", {}).json()["error"]["code"] == "not_found"
    assert httpx.get(url + "/chat/completions", headers={"Authorization": f"Bearer {KEY}"}
                     ).status_code == 405
    assert httpx.get(url.replace("/v1", "/health")).status_code == 200  # no key needed
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=ask("hi"))
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="default", prompt="hi", max_tokens=10 ** 6)


def test_metrics_are_prometheus_text(served, client):
    server, url = served
    client.completions.create(model="default", prompt="Hello", max_tokens=2, temperature=0.5)
    text = httpx.get(url.replace("/v1", "/metrics"), headers={"Authorization": f"Bearer {KEY}"}).text
    for name in ("sikao_requests_total", "sikao_prompt_tokens_total", "sikao_generation_tokens_total",
                 "sikao_time_to_first_token_seconds_bucket", "sikao_request_latency_seconds_count",
                 "sikao_queue_depth", "sikao_batch_size_bucket", "sikao_engine_batched_steps_total"):
        assert f"\n{name}" in text
    assert 'sikao_requests_total{endpoint="/v1/completions",status="200"}' in text
    assert 'sikao_time_to_first_token_seconds_bucket{le="+Inf"}' in text


def test_outputs_reach_the_event_loop_in_spaced_handoffs(monkeypatch):
    """One hand-off each FLUSH seconds at most, a finished output's at once with what was held
    back, and an error after what was held back."""
    from types import SimpleNamespace

    from engine.sequence import StepOutput
    from engine.serve import server as server_module

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(server_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    got = []
    loop = SimpleNamespace(call_soon_threadsafe=lambda put, item: put(item))
    handoff = server_module.Handoff(loop, got.append)

    def out(token, finished=False):
        return StepOutput(1, token, f"t{token}", 0.0, 0.0, finished=finished)

    handoff([out(1)])  # the first at once
    handoff([out(2)])
    handoff([out(3)])
    assert [[o.token_id for o in outs] for outs in got] == [[1]]
    clock.now += 1.5 * server_module.FLUSH
    handoff([out(4)])
    handoff([out(5, finished=True)])
    assert [[o.token_id for o in outs] for outs in got] == [[1], [2, 3, 4], [5]]
    handoff([out(6)])  # a new stretch, just after the last hand-off
    error = RuntimeError("the engine failed")
    handoff(error)
    assert [o.token_id for o in got[3]] == [6] and got[4] is error
