"""Child processes that end with the process that started them, however it ends.

Two sides of one contract:

* in a child, :func:`exit_with_parent` makes the process end when its parent dies, SIGKILL
  included (the dataset writer's workers; the loop's training process and its DDP workers);
  ``group=True``: the child leads a process group of its own and ends that whole group, so
  whatever it started (DDP workers, data-loader workers) ends with it;
* in a parent, :func:`run_process_group` runs a command as such a group leader and waits for it;
  when the wait ends early (Ctrl-C, SIGTERM, an error) it ends the group: SIGINT or SIGTERM, a
  grace period, then SIGKILL. Whatever is left of the group once its leader exits is killed too.

The parent's pid travels to the child in ``OCRLAB_PARENT_PID`` (:data:`PARENT_ENV`): a child that
reads it knows its parent even if that died before the child's first line ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

PARENT_ENV = "OCRLAB_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def exit_with_parent(parent_pid: int, poll_s: float = 0.5, group: bool = False) -> None:
    """Make this process end when ``parent_pid``, its parent, dies, however it dies (SIGKILL
    included): the kernel's parent-death signal on Linux, plus a daemon thread that polls the
    parent pid (other systems, and a parent that died before the signal was armed).

    ``group=True``, in a process that leads its process group (started with
    ``start_new_session``): when orphaned, it SIGKILLs its whole group, itself and every process
    it started that stayed in the group. It gets no parent-death signal then (that would end it
    before it could end its group): the polling thread does it. In a process that does not lead
    its group, ``group=True`` acts as ``False`` (never kill a shell's group)."""
    leads = group and hasattr(os, "killpg") and os.getpgrp() == os.getpid()
    if not leads and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def orphaned() -> None:
        if leads:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(1)  # orphaned: the parent is gone, and with it whatever this process works for

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        orphaned()

    if os.getppid() != parent_pid:
        orphaned()
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def parent_pid_from_env() -> int:
    """The parent's pid as the parent gave it (:data:`PARENT_ENV`), else the current parent's."""
    value = os.environ.get(PARENT_ENV, "")
    return int(value) if value.isdigit() else os.getppid()


class _Terminated(BaseException):
    """SIGTERM arrived while :func:`run_process_group` waited."""


def run_process_group(command: Sequence[str], env: Mapping[str, str] | None = None,
                      grace_s: float = 10.0) -> int:
    """Run ``command`` in a session (process group) of its own, with :data:`PARENT_ENV` set to
    this process, and wait for it; returns its exit code.

    Whatever ends the wait early (Ctrl-C, SIGTERM to this process, an error) ends the group first:
    that signal (SIGINT for Ctrl-C, else SIGTERM) to every process in it, up to ``grace_s`` for the
    leader to exit, then SIGKILL; then the exception goes on (after SIGTERM this process ends by
    it, as it would have without this wait). Once the leader exits, what is left of its group is
    killed too. The child is expected to call ``exit_with_parent(parent_pid_from_env(),
    group=True)``: if this process is SIGKILLed, the group then ends itself."""
    env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
    if not hasattr(os, "killpg"):  # no process groups (Windows): the child alone
        with subprocess.Popen(list(command), env=env) as proc:
            try:
                return proc.wait()
            except BaseException:
                proc.kill()
                raise
    installed, previous = False, signal.SIG_DFL
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        previous = signal.SIG_DFL if previous is None else previous  # None: set outside Python
        installed = True
    try:
        proc = subprocess.Popen(list(command), env=env, start_new_session=True)
        try:
            _wait_unreaped(proc)
        except BaseException as e:
            _end_group(proc, signal.SIGINT if isinstance(e, KeyboardInterrupt) else signal.SIGTERM, grace_s)
            raise
        finally:
            # the leader has exited, a zombie until reaped: its group id cannot name another group yet
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        return proc.returncode
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        installed = False
        signal.raise_signal(signal.SIGTERM)  # what SIGTERM did before: by default, end this process
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_unreaped(proc: subprocess.Popen, timeout: float | None = None, poll_s: float = 0.1) -> bool:
    """Wait until the child ``proc`` exits, leaving it unreaped where the system allows
    (``waitid``); False on a timeout."""
    if not hasattr(os, "waitid"):
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    if timeout is None:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        return True
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def _end_group(proc: subprocess.Popen, sig: int, grace_s: float) -> None:
    """``sig`` to the group, ``grace_s`` for its leader to exit, then SIGKILL to the group. A
    second Ctrl-C or SIGTERM meanwhile cuts the grace period short."""
    try:
        _kill_group(proc.pid, sig)
        _wait_unreaped(proc, grace_s)
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        _kill_group(proc.pid, signal.SIGKILL)
