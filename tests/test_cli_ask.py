"""`sikao ask` as a user runs it: a real subprocess on the bundled model."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest


def sikao(*args, stdin="", timeout=120):
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1"})


def test_ask_streams_thinking_then_answer_as_json_events():
    r = sikao("ask", "--think", "--json", "--seed", "3", "--max-thinking-tokens", "24",
              "--max-tokens", "16", "What is 2+2?")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ThinkingDelta" and kinds[-1] == "Done" and "AnswerDelta" in kinds
    assert kinds.index("AnswerDelta") > max(i for i, k in enumerate(kinds) if k == "ThinkingDelta")
    done = events[-1]
    assert done["reasoning"] == "".join(e["text"] for e in events if e["type"] == "ThinkingDelta").strip()
    assert 0 < done["stats"]["thinking_tokens"] <= 24 and 0 < done["stats"]["answer_tokens"] <= 16


def test_ask_reads_the_question_from_stdin():
    r = sikao("ask", "--temperature", "0", "--max-tokens", "8", stdin="Name a colour.\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and "tok/s" in r.stdout


@pytest.mark.parametrize("args, stdin, message", [
    (["ask", ""], "", "empty question"),
    (["ask"], "   \n", "empty question"),
    (["ask", "--model", "no-such-model", "hi"], "", "unknown model 'no-such-model'"),
    (["ask", "--model", "/nonexistent/x.gguf", "hi"], "", "no such GGUF file"),
    (["ask", "--temperature", "-1", "hi"], "", "Invalid value for '--temperature'"),
])
def test_bad_input_is_one_line_and_exit_2(args, stdin, message):
    r = sikao(*args, stdin=stdin)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_prompt_longer_than_the_context_is_a_clear_error():
    r = sikao("ask", stdin="word " * 9000)
    assert r.returncode == 2 and "context is 8192 tokens" in r.stderr
    assert "Traceback" not in r.stderr


def test_ctrl_c_stops_cleanly_and_keeps_what_was_printed():
    proc = subprocess.Popen([sys.executable, "-m", "app", "ask", "--max-tokens", "2000",
                             "--temperature", "0.8", "Tell me a very long story about a dragon."],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    first = proc.stdout.read(1)  # the answer has started streaming
    time.sleep(0.25)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "[stopped]" in err and "Traceback" not in err
    assert len(first + out) > 1
