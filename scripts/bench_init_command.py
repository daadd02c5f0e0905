#!/usr/bin/env python3
"""The commands that scripts/bench_init.py runs under each init:

  orphans COUNT   make COUNT orphans, wait until the init has reaped them all
  sigwait         answer every SIGUSR1 with a line on stdout

Kept apart from the driver and to the few modules it needs, because every
fork copies the interpreter's memory: with the driver's imports loaded, a
fork here took more than twice as long, and the reaping run would mostly
measure Python.
"""

import os
import signal
import sys
import time


def orphans(count):
    """Runs as the init's child, in the init's PID namespace, with that
    namespace's /proc.

    Each orphan is double-forked: the intermediate child forks it and exits
    at once, so the orphan is reparented to PID 1; the orphan exits at once
    too, and stays a zombie until the init reaps it. This process reaps the
    intermediates itself, so whatever is left in /proc is the init's work.

    Prints four numbers: seconds spent making the orphans, seconds from
    the last one made until all were gone, how many processes were left
    right after the last one was made, and the nanoseconds PID 1 ran on a
    CPU meanwhile (its schedstat: unlike wall time, hardly disturbed by
    other load on the machine).
    """
    me = os.getpid()
    if os.getppid() != 1:
        sys.exit(f"orphans: parent is {os.getppid()}, not PID 1: orphans would not go to the init")
    init_start = init_cpu()
    start = time.perf_counter()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)
    created = time.perf_counter()

    def others():
        # A zombie keeps its /proc entry until it is reaped, so nothing
        # here but PID 1 and this process means every orphan is gone, the
        # ones still running and the ones waiting to be reaped alike.
        return [e for e in os.listdir("/proc") if e.isdigit() and int(e) not in (1, me)]

    left = len(others())
    while others():
        if time.perf_counter() > created + 120:
            sys.exit(f"orphans: {len(others())} processes still there 120 s after the last was made")
        time.sleep(0.0002)
    drained = time.perf_counter()
    print(created - start, drained - created, left, init_cpu() - init_start, flush=True)


def init_cpu():
    with open("/proc/1/schedstat") as file:
        return int(file.read().split()[0])


def sigwait():
    """Takes SIGUSR1 synchronously, so no handler and no Python signal
    machinery sits between the kernel and the answer, and names the sender
    of each: the driver checks that it came from the init (PID 1)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    os.write(1, b"ready\n")
    while True:
        info = signal.sigwaitinfo({signal.SIGUSR1})
        os.write(1, b"%d\n" % info.si_pid)


if __name__ == "__main__":
    if sys.argv[1:2] == ["orphans"] and len(sys.argv) == 3:
        orphans(int(sys.argv[2]))
    elif sys.argv[1:] == ["sigwait"]:
        sigwait()
    else:
        sys.exit("usage: bench_init_command.py orphans COUNT | sigwait")
