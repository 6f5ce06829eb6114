"""Runs one untrusted program inside the sandbox process (started by evals/sandbox.py as a script,
never imported). Order matters: limits and the network namespace first, then the audit hook, and
only then the candidate code, so the code cannot undo them."""
import ctypes
import json
import os
import resource
import sys
import traceback

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
BLOCKED = {
    "os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
    "os.killpg", "os.chdir", "subprocess.Popen", "pty.spawn", "socket.connect", "socket.bind",
    "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym",
    "resource.setrlimit", "resource.prlimit", "sys.addaudithook", "webbrowser.open",
}
PATH_EVENTS = {  # event -> positions of path arguments that must stay inside the working dir
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.chmod": (0,),
    "os.chown": (0,), "os.truncate": (0,), "os.link": (0, 1), "os.symlink": (0, 1),
    "os.utime": (0,), "shutil.rmtree": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def limit(memory: int, cpu: int, fsize: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    # No new processes or threads; the kernel ignores this for root, hence the audit hook too.
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def isolate_network() -> bool:
    """A fresh network namespace has no interfaces up: no connection can leave it. Needs root or
    unprivileged user namespaces; without either the audit hook still refuses sockets."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(CLONE_NEWNET) == 0 or libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0


def guard(root: str) -> None:
    def inside(path) -> bool:
        if isinstance(path, int):
            return True  # an fd the program already opened, so already checked
        path = os.fsdecode(path)
        full = os.path.realpath(os.path.join(root, path))
        return full == root or full.startswith(root + os.sep)

    def hook(event, args):
        if event in BLOCKED:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and args[2] & WRITE_FLAGS and not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} outside the working dir")
        for i in PATH_EVENTS.get(event, ()):
            if not inside(args[i]):
                raise PermissionError(f"sandbox: {event} on {args[i]!r} outside the working dir")

    sys.addaudithook(hook)


def main() -> None:
    job = json.loads(sys.stdin.read())
    nonce = job.pop("nonce")
    limit(job["memory"], job["cpu"], job["fsize"])
    isolate_network()
    guard(os.path.realpath(os.getcwd()))
    try:
        code = compile(job.pop("program"), "candidate.py", "exec")
        exec(code, {"__name__": "__candidate__"})
    except BaseException:  # SystemExit too: a program that exits early has not passed its tests
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    # Passing is exit 0 *and* the nonce, so a stray os._exit(0) in the program is not a pass.
    os.write(1, f"\n{nonce}\n".encode())
    os._exit(0)


if __name__ == "__main__":
    main()
