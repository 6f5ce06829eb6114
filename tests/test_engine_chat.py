"""R1 prompt rules on the real bundled tokenizer, and on an R1-style template."""
import copy

import pytest
import torch

from engine.chat import THINK_SYSTEM, build_prompt, split_thought, thinks_natively
from engine.errors import ModelError
from engine.loader import pick_device, pick_dtype

R1_TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
               "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>"
               "{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}")

CHAT = [{"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4", "reasoning": "two and two make four"},
        {"role": "user", "content": "And 3+3?"}]


def test_bundled_model_gets_the_think_instruction_and_a_forced_think_tag(tokenizer):
    assert not thinks_natively(tokenizer)
    prompt = build_prompt(tokenizer, CHAT, think=True)
    assert THINK_SYSTEM in prompt and prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert "two and two make four" not in prompt  # earlier reasoning is not sent back
    plain = build_prompt(tokenizer, CHAT, think=False)
    assert THINK_SYSTEM not in plain and "<think>" not in plain
    assert plain.endswith("<|im_start|>assistant\n")


def test_system_prompt_is_kept_beside_the_instruction(tokenizer):
    prompt = build_prompt(tokenizer, [{"role": "system", "content": "Be terse."}, *CHAT[:1]],
                          think=True)
    assert prompt.count("<|im_start|>system") == 1
    assert THINK_SYSTEM in prompt and "Be terse." in prompt


def test_native_thinking_template(tokenizer):
    r1 = copy.copy(tokenizer)
    r1.chat_template = R1_TEMPLATE
    assert thinks_natively(r1)
    on = build_prompt(r1, CHAT, think=True)
    assert THINK_SYSTEM not in on and on.endswith("<｜Assistant｜><think>\n")
    assert on.count("<think>") == 1  # the template's own tag is not doubled
    off = build_prompt(r1, CHAT, think=False)
    assert off.endswith("<think>\n\n</think>\n\n")
    hidden = build_prompt(r1, [CHAT[0], {"role": "assistant", "content": "<think>secret</think>4"},
                               CHAT[2]], think=True)
    assert "secret" not in hidden and "<｜Assistant｜>4<｜end▁of▁sentence｜>" in hidden


def test_split_thought():
    assert split_thought("step 1\nstep 2\n</think>\n\nThe answer is 4.") == (
        "step 1\nstep 2", "The answer is 4.")
    assert split_thought("still thinking") == ("still thinking", "")


def test_device_and_dtype_choice():
    auto = pick_device(None)
    assert auto.type == ("cuda" if torch.cuda.is_available() else
                         "mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_dtype(torch.device("cpu"), None) == torch.float32
    assert pick_dtype(torch.device("cuda"), None) == torch.bfloat16
    assert pick_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ModelError, match="unknown dtype"):
        pick_dtype(torch.device("cpu"), "int3")
    with pytest.raises(ModelError, match="unknown device"):
        pick_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            pick_device("cuda")
