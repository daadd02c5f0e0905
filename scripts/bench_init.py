#!/usr/bin/env python3
"""Measures aws-init as an init against tini, tini-static and dumb-init, and
prints the results as a markdown table.

scripts/bench-init installs the other inits, builds aws-init and runs this
file. The commands the inits run for the reaping and signal measurements
are in bench_init_command.py. Standard library only.
"""

import argparse
import math
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

COMMAND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_init_command.py")

# Debian's directories only, so every init and command comes from the
# packages the benchmark installed, not from /usr/local or a user's tools.
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# The whole environment every init starts with. No value is a secret
# reference, so aws-init resolves nothing and makes no AWS call; the dummy
# credentials and the disabled metadata service keep the SDK from looking
# anywhere for more, should it ever try.
INIT_ENV = {
    "PATH": CLEAN_PATH,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "AKIDBENCHMARKDUMMY",
    "AWS_SECRET_ACCESS_KEY": "bench-dummy-secret-key",
    "AWS_REGION": "us-east-1",
}

TRUE = "/usr/bin/true"
SLEEP = "/usr/bin/sleep"
UNSHARE = "/usr/bin/unshare"
# The command runs as PID 1's child of a new PID namespace, with its own
# /proc, so that the namespace's orphans go to the init under test and the
# command can see them.
PID_NAMESPACE = [UNSHARE, "--pid", "--fork", "--mount-proc"]

# Python for the commands the inits run: -I keeps the caller's environment
# and user site out, -S skips site, which makes start-up and every fork of
# the orphan maker cheaper.
COMMAND_PYTHON = [sys.executable, "-I", "-S"]

# Seconds each init runs its command before its memory is read.
MEMORY_SETTLE = 2.0

# The reference each ratio is taken against.
REFERENCE = "tini"
MEMORY_REFERENCE = "tini-static"


def init_prefixes(aws_init):
    """The inits and the argv each is started with, before the command.

    tini gets -g so that, like aws-init and dumb-init, it forwards signals to
    the command's process group; without it tini signals only the child.
    -g changes nothing else (start-up, memory and reaping are the same).
    dumb-init's default already is group forwarding in a new session.
    """
    return [
        ("aws-init", [aws_init, "--"]),
        ("tini", ["/usr/bin/tini", "-g", "--"]),
        ("tini-static", ["/usr/bin/tini-static", "-g", "--"]),
        ("dumb-init", ["/usr/bin/dumb-init", "--"]),
    ]


def log(message):
    print(f"bench-init: {message}", file=sys.stderr, flush=True)


def rotated(items, shift):
    """Each round starts with a different case, so that drift over the run
    (frequency, caches, other load) spreads over all of them evenly."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def percentile(samples, fraction):
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# Every sampled measure is also taken over this many consecutive blocks of
# its rounds, and a target counts as met or missed only when every block
# agrees: a single ratio close to the limit says more about noise than
# about the init.
BLOCKS = 5


def blocks(samples):
    size = max(1, len(samples) // BLOCKS)
    return [samples[i:i + size] for i in range(0, size * BLOCKS, size) if samples[i:i + size]]


def exit_code(status):
    return os.waitstatus_to_exitcode(status)


# --- 1. start-up overhead ---------------------------------------------------


def bench_overhead(inits, runs, warmup):
    """Wall time of `INIT true` from spawn to reaped, against bare `true`,
    and the CPU time the run used (the init and everything it waited for,
    from wait4), which other load on the machine disturbs less.

    posix_spawn (vfork in glibc) keeps the driver's own cost per run small
    and the same for every case. Output goes to /dev/null: tini, not being
    PID 1 here, prints a warning on every start.
    """
    cases = [("bare", [TRUE])] + [(name, prefix + [TRUE]) for name, prefix in inits]
    samples = {name: [] for name, _ in cases}
    cpu = {name: [] for name, _ in cases}
    null = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
    try:
        for round_ in range(warmup + runs):
            for name, argv in rotated(cases, round_):
                start = time.perf_counter_ns()
                pid = os.posix_spawn(argv[0], argv, INIT_ENV, file_actions=actions)
                _, status, usage = os.wait4(pid, 0)
                elapsed = time.perf_counter_ns() - start
                if exit_code(status) != 0:
                    raise SystemExit(f"bench-init: {name}: `{' '.join(argv)}` exited {exit_code(status)}")
                if round_ >= warmup:
                    samples[name].append(elapsed)
                    cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e9)
    finally:
        os.close(null)
    return {
        name: {
            "mean": statistics.fmean(values),
            "median": statistics.median(values),
            "cpu": statistics.median(cpu[name]),
            "blocks": [statistics.median(block) for block in blocks(values)],
        }
        for name, values in samples.items()
    }


# --- 2. resident memory -----------------------------------------------------


def children(pid):
    """Children of a single-threaded process (all the inits are, as PID 1)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(field) for field in file.read().split()]
    except FileNotFoundError:
        return []


def wait_for(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-init: timed out waiting for {what}")
        time.sleep(0.001)


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def state_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            # The name in parentheses may hold spaces; the state follows it.
            return file.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None


def smaps_rollup(pid):
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def stop(process, init):
    """Stops an init by SIGTERM, which it forwards to its command, and waits
    for the namespace to end. SIGKILL only as a last resort: unshare, when
    its child dies of SIGKILL, cannot re-raise it and complains."""
    os.kill(init, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(init, signal.SIGKILL)
        process.wait()


def start_as_pid1(argv, **popen):
    """Starts argv as PID 1 of a new PID namespace. Returns the unshare
    process and the host PID of the init (unshare's only child)."""
    process = subprocess.Popen(PID_NAMESPACE + argv, env=INIT_ENV, **popen)
    init = wait_for("the init to start", lambda: (children(process.pid) or [None])[0])
    return process, init


def mapped_files(pid):
    """The files a process has mapped: its executable and libraries."""
    paths = set()
    with open(f"/proc/{pid}/maps") as file:
        for line in file:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                paths.add(fields[5].rstrip("\n"))
    return paths


def measure_memory_once(prefix, warm=False):
    """Returns the init's smaps_rollup while its command sleeps. With
    `warm`, reads every file the init and the command have mapped into the
    page cache instead, whole."""
    sleep_exe = os.path.realpath(SLEEP)
    process, init = start_as_pid1(prefix + [SLEEP, "1000"])
    try:
        # Until the command has exec'd, the init's child may still be a copy
        # of the init (aws-init forks before anything else), and the init
        # may still be starting it; only then is the init in its steady
        # state, asleep waiting for signals.
        child = wait_for(
            "the command to exec",
            lambda: next((c for c in children(init) if exe_of(c) == sleep_exe), None),
        )
        wait_for("the init to wait", lambda: state_of(init) == "S")
        # A container's init lives for hours; what counts is its steady
        # state, not its first moments. aws-init drops its start-up pages a
        # second after it forks, so every init gets the same settling time.
        time.sleep(MEMORY_SETTLE)
        if warm:
            for path in mapped_files(init) | mapped_files(child):
                with open(path, "rb") as file:
                    while file.read(1 << 20):
                        pass
            return None
        if state_of(child) is None or children(init) != [child]:
            raise SystemExit("bench-init: the init's children changed while measuring")
        return smaps_rollup(init)
    finally:
        stop(process, init)


def bench_memory(inits, repeats):
    """RSS and PSS of the init process itself while its command sleeps.

    Each init and the command run once first, and every file they map is
    read whole, so that all of it is in the page cache, as it is for a
    container started right after its image was pulled (and written to
    disk). That matters: a fault on a cached page maps the cached pages
    around it too (fault-around), so the more of a binary is cached, the
    more of it ends up in RSS.
    """
    for _, prefix in inits:
        measure_memory_once(prefix, warm=True)
    samples = {name: [] for name, _ in inits}
    for round_ in range(repeats):
        for name, prefix in rotated(inits, round_):
            samples[name].append(measure_memory_once(prefix))
    result = {}
    for name, rollups in samples.items():
        result[name] = {
            key: statistics.median(r.get(key, 0) for r in rollups)
            for key in ("Rss", "Pss", "Anonymous")
        }
    return result


# --- 3. reaping orphans -----------------------------------------------------


def bench_orphans(inits, count, repeats):
    """Wall time of a whole run in the namespace: start, make the orphans,
    wait until all are reaped, exit."""
    samples = {name: [] for name, _ in inits}
    for round_ in range(repeats):
        for name, prefix in rotated(inits, round_):
            argv = PID_NAMESPACE + prefix + COMMAND_PYTHON + [COMMAND, "orphans", str(count)]
            start = time.perf_counter()
            run = subprocess.run(argv, env=INIT_ENV, stdout=subprocess.PIPE, text=True)
            elapsed = time.perf_counter() - start
            if run.returncode != 0:
                raise SystemExit(f"bench-init: {name}: the orphan run exited {run.returncode}")
            create, drain, left, init_cpu = run.stdout.split()
            report = {
                "whole": elapsed,
                "create": float(create),
                "drain": float(drain),
                "left": int(left),
                "cpu": int(init_cpu),
            }
            samples[name].append(report)
            log(f"  {name}: {elapsed:.2f} s ({report['left']} unreaped when the last was made)")
    result = {}
    for name, reports in samples.items():
        wholes = [r["whole"] for r in reports]
        result[name] = {
            "whole": statistics.median(wholes),
            # One block per round: the inits of a round ran side by side.
            "blocks": wholes,
            "min": min(wholes),
            "max": max(wholes),
            "create": statistics.median(r["create"] for r in reports),
            "drain": statistics.median(r["drain"] for r in reports),
            "left": statistics.median(r["left"] for r in reports),
            "cpu": statistics.median(r["cpu"] for r in reports),
        }
    return result


# --- 4. signal forwarding ---------------------------------------------------


def cpu_time(pid):
    """Nanoseconds a process has run on a CPU (schedstat's first field)."""
    with open(f"/proc/{pid}/schedstat") as file:
        return int(file.read().split()[0])


class Listener:
    """One running sigwait command, under an init or bare."""

    def __init__(self, name, argv, as_pid1):
        self.name = name
        read, write = os.pipe()
        popen = {"stdout": write, "stdin": subprocess.DEVNULL}
        if as_pid1:
            self.process, self.target = start_as_pid1(argv, **popen)
            self.sender = 1
        else:
            self.process = subprocess.Popen(argv, env=INIT_ENV, **popen)
            self.target = self.process.pid
            self.sender = os.getpid()
        os.close(write)
        self.pipe = read
        self.buffer = b""
        if self.readline(10.0) != b"ready":
            raise SystemExit(f"bench-init: {name}: the sigwait command did not start")

    def readline(self, timeout):
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.pipe], [], [], timeout)
            if not ready:
                raise SystemExit(f"bench-init: {self.name}: no answer within {timeout} s")
            chunk = os.read(self.pipe, 4096)
            if not chunk:
                raise SystemExit(f"bench-init: {self.name}: the command ended")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def round_trip(self):
        start = time.perf_counter_ns()
        os.kill(self.target, signal.SIGUSR1)
        line = self.readline(5.0)
        elapsed = time.perf_counter_ns() - start
        if int(line) != self.sender:
            raise SystemExit(f"bench-init: {self.name}: signal came from {int(line)}, not {self.sender}")
        return elapsed

    def stop(self):
        stop(self.process, self.target)
        os.close(self.pipe)


def bench_signals(inits, count, warmup):
    """Time from kill(init, SIGUSR1) in the driver to the command's answer.

    All the listeners run at once and take turns, one signal in flight at a
    time. A bare command signalled straight from the driver gives the floor:
    what the kernel and Python cost without any init.
    """
    command = COMMAND_PYTHON + [COMMAND, "sigwait"]
    listeners = [Listener("none", command, as_pid1=False)]
    try:
        for name, prefix in inits:
            listeners.append(Listener(name, prefix + command, as_pid1=True))
        samples = {listener.name: [] for listener in listeners}
        for round_ in range(warmup + count):
            if round_ == warmup:
                cpu_before = {listener.name: cpu_time(listener.target) for listener in listeners}
            for listener in rotated(listeners, round_):
                elapsed = listener.round_trip()
                if round_ >= warmup:
                    samples[listener.name].append(elapsed)
        cpu_after = {listener.name: cpu_time(listener.target) for listener in listeners}
    finally:
        for listener in listeners:
            listener.stop()
    return {
        name: {
            "median": statistics.median(values),
            "p99": percentile(values, 0.99),
            "median_blocks": [statistics.median(block) for block in blocks(values)],
            "p99_blocks": [percentile(block, 0.99) for block in blocks(values)],
            "cpu": (cpu_after[name] - cpu_before[name]) / count,
        }
        for name, values in samples.items()
    }


# --- the report -------------------------------------------------------------


def ms(ns):
    return f"{ns / 1e6:.2f} ms"


def us(ns):
    return f"{ns / 1e3:.0f} µs"


def kib(value):
    return f"{value:,.0f} KiB"


def ratio(value, reference):
    return f"{value / reference:.2f}×"


def verdict(ratios, limit):
    """Met when every block's ratio is within the limit, not met when none
    is, and unclear when the blocks disagree: then the difference is within
    this run's noise."""
    if all(r <= limit for r in ratios):
        return "met"
    if all(r > limit for r in ratios):
        return "**not met**"
    return f"unclear, {min(ratios):.2f}–{max(ratios):.2f}× across {len(ratios)} blocks"


def linkage(path):
    """"static" or "dynamic": whether the ELF file names an interpreter
    (PT_INTERP), that is, whether the dynamic loader and shared libraries
    come into the process. Packagers differ here: Debian's dumb-init is
    dynamic, upstream's release binary static."""
    with open(path, "rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            return "not a 64-bit ELF file"
        order = "little" if header[5] == 1 else "big"
        phoff = int.from_bytes(header[32:40], order)
        phentsize = int.from_bytes(header[54:56], order)
        phnum = int.from_bytes(header[56:58], order)
        file.seek(phoff)
        table = file.read(phentsize * phnum)
    for entry in range(phnum):
        if int.from_bytes(table[entry * phentsize:entry * phentsize + 4], order) == 3:
            return "dynamic"
    return "static"


def version(argv):
    run = subprocess.run(argv, env=INIT_ENV, capture_output=True, text=True)
    return (run.stdout or run.stderr).strip().splitlines()[0]


def report(args, inits, results, load, took):
    overhead, memory, orphans, signals = (results[key] for key in ("overhead", "memory", "orphans", "signals"))
    names = [name for name, _ in inits]
    ours = names[0]

    def pick(table, key):
        return {n: table[n][key] for n in names}

    def row(label, values, fmt, reference=None, target=None, limit=1.0, by_block=None):
        """One measure across the inits, each with its ratio to `reference`,
        and aws-init's target when the measure has one, judged block by
        block when the measure has blocks."""
        cells = []
        for n in names:
            cell = fmt(values[n])
            if reference:
                cell += f" ({ratio(values[n], values[reference])})"
            cells.append(cell)
        goal = ""
        if target:
            if by_block:
                ratios = [a / b for a, b in zip(by_block[ours], by_block[reference])]
            else:
                ratios = [values[ours] / values[reference]]
            goal = f"{target}: {verdict(ratios, limit)}"
        return f"| {label} | " + " | ".join(cells) + f" | {goal} |"

    bare = overhead["bare"]
    added = {n: overhead[n]["median"] - bare["median"] for n in names}
    added_blocks = {
        n: [a - b for a, b in zip(overhead[n]["blocks"], bare["blocks"])] for n in names
    }
    added_cpu = {n: overhead[n]["cpu"] - bare["cpu"] for n in names}
    lines = [
        f"### aws-init against tini and dumb-init{' (quick run)' if args.quick else ''}",
        "",
    ]
    if load["share"] > 0.05:
        lines += [
            f"**Warning: other processes kept {load['share']:.0%} of the CPUs busy during this run; "
            "wall times are unreliable, CPU times less so.**",
            "",
        ]
    lines += [
        f"Ratios in brackets are against {REFERENCE}, memory against {MEMORY_REFERENCE}. "
        f"A target counts as met, or not met, only when each of {BLOCKS} consecutive blocks "
        "of the samples (for reaping: each round) says so; otherwise it is unclear, "
        "within this run's noise.",
        "",
        "| | " + " | ".join(names) + " | target for aws-init |",
        "|---|" + "---:|" * len(names) + "---|",
        row(f"`INIT true`, mean per run ({args.runs:,} runs)", pick(overhead, "mean"), ms),
        row("`INIT true`, median per run", pick(overhead, "median"), ms, REFERENCE),
        row(
            f"… added over bare `true` ({ms(bare['median'])}), median",
            added, ms, REFERENCE, f"≤ 1.2× {REFERENCE}", 1.2, added_blocks,
        ),
        row(
            f"… CPU time added over bare `true` ({ms(bare['cpu'])}), median",
            added_cpu, ms, REFERENCE,
        ),
        row(
            "PID 1 RSS, command running for 2 s",
            pick(memory, "Rss"), kib, MEMORY_REFERENCE, f"≤ {MEMORY_REFERENCE}",
        ),
        row("PID 1 PSS", pick(memory, "Pss"), kib, MEMORY_REFERENCE),
        row("PID 1 anonymous memory", pick(memory, "Anonymous"), kib),
        row(
            f"reap {args.orphans:,} orphans, whole run (median of {args.orphan_runs})",
            pick(orphans, "whole"), seconds, REFERENCE, f"≤ {REFERENCE}",
            by_block=pick(orphans, "blocks"),
        ),
        row("… fastest – slowest run", {n: (orphans[n]["min"], orphans[n]["max"]) for n in names}, span),
        row("… CPU time of PID 1 during the run", pick(orphans, "cpu"), ms, REFERENCE),
        row("… orphans still there when the last was made", pick(orphans, "left"), count),
        row("… from the last orphan made to all reaped", pick(orphans, "drain"), lambda v: f"{v * 1e3:.1f} ms"),
        row(
            f"signal forwarded, median ({args.signals:,} signals)",
            pick(signals, "median"), us, REFERENCE, f"≤ {REFERENCE}",
            by_block=pick(signals, "median_blocks"),
        ),
        row(
            "signal forwarded, p99", pick(signals, "p99"), us, REFERENCE, f"≤ {REFERENCE}",
            by_block=pick(signals, "p99_blocks"),
        ),
        row("… CPU time of PID 1 per signal", pick(signals, "cpu"), us_fine, REFERENCE),
        "",
        f"- A signal sent straight to the command, with no init: median {us(signals['none']['median'])}, "
        f"p99 {us(signals['none']['p99'])}.",
        f"- Kernel: {platform.system()} {platform.release()} {platform.version()}; "
        f"{os.cpu_count()} CPUs ({cpu_model()}). Other processes used {load['share']:.0%} "
        "of the CPUs during the run.",
        f"- Inits: {args.aws_init_version}, release build; "
        f"tini {version(['/usr/bin/tini', '--version']).removeprefix('tini ')}; "
        f"{version(['/usr/bin/dumb-init', '--version'])}; tini and dumb-init as Debian packages them. "
        "Linked: " + ", ".join(f"{n} {linkage(prefix[0])}" for n, prefix in inits) + ". "
        "tini runs with `-g`, so all four forward signals to the command's process group.",
        "- Start-up is timed as an ordinary process; for memory, reaping and signals the init is "
        "PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`). No secret "
        "references, so aws-init calls no AWS API; the run has no network at all.",
        f"- Reproduce: `./scripts/bench-init` (`--quick` for a smoke run). This run took {took:.0f} s.",
    ]
    return "\n".join(lines)


def seconds(value):
    return f"{value:.2f} s"


def span(pair):
    return f"{pair[0]:.2f} – {pair[1]:.2f} s"


def count(value):
    return f"{value:,.0f}"


def us_fine(ns):
    return f"{ns / 1e3:.1f} µs"


def busy_cpu():
    """Seconds all CPUs have been busy since boot, from /proc/stat."""
    with open("/proc/stat") as file:
        # user nice system idle iowait irq softirq steal; guest time is
        # already counted in user.
        values = [int(v) for v in file.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu():
    """CPU seconds of this driver and every process it has waited for,
    which includes the inits, their commands and the orphans they reaped."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class OtherLoad:
    """Watches the CPUs from its creation on, to tell how much of them
    processes other than this driver and its children kept busy."""

    def __init__(self):
        self.started = time.monotonic()
        self.busy, self.own = busy_cpu(), own_cpu()

    def took(self):
        """Seconds since the watch began."""
        return time.monotonic() - self.started

    def share(self):
        """The share of all CPUs that other processes used meanwhile."""
        other = (busy_cpu() - self.busy) - (own_cpu() - self.own)
        return max(0.0, other / (self.took() * os.cpu_count()))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def drive(args):
    # A second's look first: on a busy machine the wall times mean little,
    # and it is better to know before a run of minutes than after.
    busy, own = busy_cpu(), own_cpu()
    time.sleep(1.0)
    idle_check = ((busy_cpu() - busy) - (own_cpu() - own)) / os.cpu_count()
    if idle_check > 0.05:
        log(f"warning: other processes are keeping {idle_check:.0%} of the CPUs busy; "
            "wall times will be noisy")

    watch = OtherLoad()
    if args.quick:
        args.runs, args.orphans, args.orphan_runs, args.signals, args.memory_runs = 100, 1000, 1, 100, 2
    inits = init_prefixes(args.aws_init)

    results = {}
    log(f"start-up: `INIT true`, {args.runs} runs of each, interleaved")
    results["overhead"] = bench_overhead(inits, args.runs, warmup=max(5, args.runs // 50))
    log(f"memory: RSS and PSS of PID 1, {args.memory_runs} runs of each")
    results["memory"] = bench_memory(inits, args.memory_runs)
    log(f"reaping: {args.orphans} orphans, {args.orphan_runs} run(s) of each")
    results["orphans"] = bench_orphans(inits, args.orphans, args.orphan_runs)
    log(f"signals: {args.signals} SIGUSR1 to each, interleaved")
    results["signals"] = bench_signals(inits, args.signals, warmup=max(10, args.signals // 20))

    # Whatever the CPUs did beyond this benchmark's own processes was other
    # load, which makes the wall times worth less: say how much there was.
    took, load = watch.took(), {"share": watch.share()}
    sys.stdout.reconfigure(encoding="utf-8")
    print(report(args, inits, results, load, took))


def main():
    parser = argparse.ArgumentParser(description="Benchmark aws-init against tini and dumb-init.")
    parser.add_argument("--aws-init", required=True, help="the aws-init binary")
    parser.add_argument("--aws-init-version", default="aws-init", help="how to name it in the report")
    parser.add_argument("--quick", action="store_true", help="few iterations, for a smoke test")
    parser.add_argument("--runs", type=int, default=1000, help="`INIT true` runs of each init")
    parser.add_argument("--memory-runs", type=int, default=5, help="memory readings of each init")
    parser.add_argument("--orphans", type=int, default=10_000, help="orphans per reaping run")
    parser.add_argument("--orphan-runs", type=int, default=3, help="reaping runs of each init")
    parser.add_argument("--signals", type=int, default=1000, help="signals sent to each init")
    args = parser.parse_args()
    args.aws_init = os.path.abspath(args.aws_init)
    drive(args)


if __name__ == "__main__":
    main()
