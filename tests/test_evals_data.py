"""Dataset loading: ids, fields, and where files are looked for."""
import json
import shutil

import pytest

from app.errors import UserError
from evals.data import DATASETS, REPO, arith, load

SHARED = REPO.parent / "shared" / "datasets"


@pytest.mark.parametrize("name, count, first_id", [
    ("gsm8k", 1319, 0), ("math500", 500, "test/precalculus/807.json"), ("aime24", 30, 60),
    ("amc23", 40, 0), ("humaneval", 164, "HumanEval/0"), ("mbpp", 427, 2)])
def test_datasets_load_with_their_own_ids(name, count, first_id):
    problems = load(name)
    assert len(problems) == count
    assert problems[0].id == first_id
    assert len({str(p.id) for p in problems}) == count
    assert all(p.question and p.answer for p in problems)


def test_gsm8k_gold_is_the_number_after_hashes():
    p = load("gsm8k")[0]
    assert p.answer == "18" and p.question.startswith("Janet")


def test_amc_float_answers_become_integers():
    assert load("amc23")[0].answer == "27"


def test_code_problems_carry_their_tests():
    he = load("humaneval")[0]
    assert he.tests["entry_point"] == "has_close_elements" and "def check" in he.tests["test"]
    mb = load("mbpp")[0]
    assert mb.tests["entry_point"] == "similar_elements" and len(mb.tests["test_list"]) == 3


def test_arith_is_seeded_and_correct():
    a, b = arith(50, seed=3), arith(50, seed=3)
    assert [p.question for p in a] == [p.question for p in b]
    assert [p.question for p in arith(50, seed=4)] != [p.question for p in a]
    for p in a:
        x, op, y = p.question.removeprefix("What is ").rstrip("?").split()
        assert str(eval(f"{x}{op}{y}")) == p.answer


def test_data_flag_takes_a_file_or_a_dir(tmp_path):
    rows = [{"question": "1+1?", "answer": "so\n#### 2"}, {"question": "2+2?", "answer": "#### 4"}]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [p.answer for p in load("gsm8k", path)] == ["2", "4"]
    shutil.copy(SHARED / DATASETS["amc23"].file, tmp_path)
    assert len(load("amc23", tmp_path)) == 40
    with pytest.raises(UserError, match="no such file"):
        load("math500", tmp_path)


def test_env_path_then_clear_error(tmp_path, monkeypatch):
    shutil.copy(SHARED / DATASETS["aime24"].file, tmp_path)
    monkeypatch.setenv("SIKAO_DATA_PATH", str(tmp_path))
    assert len(load("aime24")) == 30
    with pytest.raises(UserError) as e:
        load("gsm8k")  # not in that dir, and this machine cannot reach the hub
    msg = e.value.format_message()
    assert "gsm8k_test.jsonl not found" in msg and "--data" in msg and "\n" not in msg


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'nope'"):
        load("nope")
