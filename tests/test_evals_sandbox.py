"""The code sandbox survives hostile or broken programs: each is a failure, never a crash."""
import os
import socket
import time

from evals.sandbox import Limits, run, run_many


def test_passing_program_and_captured_output():
    out = run("print('hello from the sandbox')\nassert sum(range(4)) == 6")
    assert out.passed and out.status == "passed"
    assert "hello from the sandbox" in out.output


def test_failing_assert_is_a_failure_with_traceback():
    out = run("assert 1 == 2, 'nope'")
    assert not out.passed and out.status == "failed" and "AssertionError: nope" in out.output


def test_infinite_loop_times_out():
    t = time.monotonic()
    out = run("while True: pass", Limits(timeout=1.5))
    assert out.status == "timeout" and not out.passed
    assert time.monotonic() - t < 10


def test_huge_allocation_fails():
    for prog in ("x = bytearray(1 << 40)", "x = [0] * (10 ** 10)"):
        out = run(prog)
        assert not out.passed and "MemoryError" in out.output


def test_os_system_and_subprocess_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    for prog in (f"import os; os.system('touch {marker}')",
                 f"import subprocess; subprocess.run(['touch', '{marker}'])",
                 "import os\nif os.fork() == 0: os._exit(0)"):
        out = run(prog)
        assert not out.passed and "PermissionError" in out.output
    assert not marker.exists()


def test_writing_outside_its_dir_is_refused(tmp_path):
    target = tmp_path / "outside.txt"
    for prog in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os; os.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
                 "open('../escape.txt', 'w').write('x')",
                 f"import shutil; shutil.rmtree({str(tmp_path)!r})"):
        assert not run(prog).passed
    assert not target.exists() and tmp_path.exists()
    inside = run("open('mine.txt', 'w').write('ok'); print(open('mine.txt').read())")
    assert inside.passed and "ok" in inside.output


def test_no_network():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        out = run(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)")
        server.settimeout(0.2)  # a connection that got through would be waiting in the backlog
        try:
            server.accept()
            reached = True
        except TimeoutError:
            reached = False
    assert not out.passed and not reached


def test_network_namespace_where_the_os_allows_it():
    out = run("import os; print(os.readlink('/proc/self/ns/net'))")
    assert out.passed
    if os.geteuid() == 0:  # root may unshare; the child then sits in a namespace of its own
        assert out.output.strip() != os.readlink("/proc/self/ns/net")


def test_early_exit_is_not_a_pass():
    for prog in ("import os; os._exit(0)", "import sys; sys.exit(0)", "raise SystemExit"):
        assert not run(prog).passed


def test_crashes_are_failures():
    for prog in ("import ctypes; ctypes.string_at(0)", "def f(): f()\nf()", "syntax error here",
                 "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"):
        out = run(prog)
        assert not out.passed and out.status == "failed"


def test_many_run_concurrently_in_order():
    progs = [f"assert {i} % 2 == 0" for i in range(12)] + ["while True: pass"]
    t = time.monotonic()
    outs = run_many(progs, Limits(timeout=2), workers=4)
    assert [o.passed for o in outs] == [i % 2 == 0 for i in range(12)] + [False]
    assert outs[-1].status == "timeout"
    assert time.monotonic() - t < 15
