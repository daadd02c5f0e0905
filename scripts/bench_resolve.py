#!/usr/bin/env python3
"""Measures how fast aws-init resolves secret references, against a
sequential boto3 resolver and an `aws` CLI entrypoint script, and prints the
results as markdown tables.

scripts/bench-resolve builds aws-init, installs the peers and runs this file
in a network namespace of its own. It starts the emulator (moto's server,
scripts/emulator.py) and, in front of it, the proxy in bench_resolve_proxy.py,
which adds the delay and enforces Parameter Store's rate limit. The peers
are bench_resolve_boto3.py and bench_resolve_cli.sh. Standard library only.
"""

import argparse
import collections
import http.client
import json
import math
import os
import platform
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# Imported from bench_init.py without leaving a __pycache__ in the tree.
sys.dont_write_bytecode = True
from bench_init import BLOCKS, OtherLoad, blocks, cpu_model, percentile, rotated, verdict  # noqa: E402

CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
TRUE = "/usr/bin/true"
TINI = "/usr/bin/tini"
REGION = "us-east-1"

LATENCY_SIZES = (1, 10, 50, 200)


def log(message):
    print(f"bench-resolve: {message}", file=sys.stderr, flush=True)


def aws_env(endpoint, home):
    """The whole environment of every process that talks to AWS: dummy
    credentials, no metadata service, no configuration files, and the
    endpoint on 127.0.0.1. Nothing of this machine's AWS settings, CA
    bundles or proxies gets in. The CLI reads AWS_DEFAULT_REGION, the
    others AWS_REGION."""
    return {
        "PATH": CLEAN_PATH,
        "HOME": home,
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARKDUMMY",
        "AWS_SECRET_ACCESS_KEY": "bench-dummy-secret-key",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }


# --- the namespace and the servers ------------------------------------------


def bring_up_loopback():
    """Brings up lo, the only interface of the new network namespace, and
    refuses to go on if there is any other: nothing here may reach a host.
    SIOCGIFFLAGS and SIOCSIFFLAGS, see netdevice(7)."""
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        raise SystemExit(f"bench-resolve: expected a network namespace with lo alone, found {names}")
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # struct ifreq: the name, then a union whose first member here is
        # short ifr_flags; 40 bytes in all.
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1))


class Server:
    """A server that prints `ready ENDPOINT` and lives until its standard
    input is closed (emulator.py and the proxy)."""

    def __init__(self, argv, env):
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready http://127.0.0.1:"):
            raise SystemExit(f"bench-resolve: `{' '.join(argv)}` did not start: {line!r}")
        self.endpoint = line.split()[1]

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def configure(proxy, delay_ms, tps=0):
    """Sets the proxy's delay and Parameter Store limit; returns the calls
    it counted since the last call, and starts counting again."""
    port = int(proxy.endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"delay_ms": delay_ms, "ssm_tps": tps})
        connection.request("POST", "/_bench", body=body, headers={"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


# --- references -------------------------------------------------------------


def secret_name(index):
    return f"bench/secret-{index:03d}"


def parameter_name(index):
    return f"/bench/param-{index:03d}"


def references(count):
    """Half secrets, half parameters, alternately, in plain aws-secret: and
    aws-ssm: form, which all three resolvers understand."""
    return {
        f"REF_{i:03d}": f"aws-secret:{secret_name(i)}" if i % 2 == 0 else f"aws-ssm:{parameter_name(i)}"
        for i in range(count)
    }


def fleet_references(count):
    return {f"PARAM_{i:02d}": f"aws-ssm:{parameter_name(2 * i + 1)}" for i in range(count)}


def seed(args, emulator, env):
    lines = []
    for value in {**references(max(LATENCY_SIZES)), **fleet_references(args.fleet_references)}.values():
        kind, name = value.split(":", 1)
        lines.append(f"{'secret' if kind == 'aws-secret' else 'parameter'} {name}\n")
    run = subprocess.run(
        [args.peer_python, "-I", os.path.join(HERE, "bench_resolve_seed.py"), emulator.endpoint],
        input="".join(sorted(set(lines))), env=env, text=True, capture_output=True,
    )
    if run.returncode != 0:
        raise SystemExit(f"bench-resolve: seeding the emulator failed:\n{run.stderr}")


# --- running one process ----------------------------------------------------


class Spawner:
    """Starts processes with posix_spawn, output to /dev/null and standard
    error to a file, so that a failure can be shown and the driver's own
    cost per run stays small and the same for every case."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.null = os.open(os.devnull, os.O_RDWR)

    def spawn(self, argv, env, name="stderr"):
        path = os.path.join(self.workdir, name)
        err = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            actions = [
                (os.POSIX_SPAWN_DUP2, self.null, 0),
                (os.POSIX_SPAWN_DUP2, self.null, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ]
            return os.posix_spawn(argv[0], argv, env, file_actions=actions), path
        finally:
            os.close(err)

    def run(self, label, argv, env):
        """Wall time of one whole run, from spawn to reaped, in ns."""
        start = time.perf_counter_ns()
        pid, path = self.spawn(argv, env)
        _, status, _ = os.wait4(pid, 0)
        elapsed = time.perf_counter_ns() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            with open(path) as file:
                raise SystemExit(f"bench-resolve: {label} exited {code}:\n{file.read()[-2000:]}")
        return elapsed


# --- 1. latency -------------------------------------------------------------


def resolvers(args, env):
    """Each resolver's argv before the command, its environment, and how
    many runs of each size it gets: the CLI pays a Python start-up per
    reference, so it gets fewer."""
    cli_env = dict(env, PATH=f"{os.path.dirname(args.peer_python)}:{CLEAN_PATH}")
    return [
        ("aws-init", [args.aws_init, "--"], env, args.runs, max(LATENCY_SIZES)),
        ("boto3", [args.peer_python, "-I", os.path.join(HERE, "bench_resolve_boto3.py")], env,
         args.peer_runs, max(LATENCY_SIZES)),
        ("aws CLI", [os.path.join(HERE, "bench_resolve_cli.sh")], cli_env, args.cli_runs, args.cli_max),
    ]


def bench_latency(args, spawner, proxy, env):
    """Wall time of `RESOLVER true` for each size, at each delay. The
    resolvers and sizes take turns, so that drift over the run spreads over
    all of them; aws-init's calls are read from the proxy after each of its
    runs."""
    tools = resolvers(args, env)
    times = collections.defaultdict(list)
    calls = {}
    for delay in (0, args.delay):
        configure(proxy, delay)
        log(f"latency at +{delay} ms")
        for name, prefix, tool_env, _, _ in tools:
            spawner.run(f"{name} (warm-up)", prefix + [TRUE], dict(tool_env, **references(1)))
        configure(proxy, delay)
        for round_ in range(max(runs for *_, runs, _ in tools)):
            for size in rotated(list(LATENCY_SIZES), round_):
                for name, prefix, tool_env, runs, largest in rotated(tools, round_):
                    if round_ >= runs or size > largest:
                        continue
                    run_env = dict(tool_env, **references(size))
                    elapsed = spawner.run(f"{name} with {size} references", prefix + [TRUE], run_env)
                    times[name, size, delay].append(elapsed)
                    counted = configure(proxy, delay)
                    if name == "aws-init":
                        calls[size] = counted["calls"]
            log(f"  round {round_ + 1} done")
    return {"times": {key: statistics.median(values) for key, values in times.items()}, "calls": calls}


# --- 2. fleet ---------------------------------------------------------------


def bench_fleet(args, spawner, proxy, env):
    """Starts the whole fleet at once and reaps each aws-init as it exits.

    Each aws-init's command is `true`, which exits within a millisecond of
    starting, so the time from an aws-init's spawn to its exit is when its
    command started. Processes are waited for through pidfds, so that
    nothing but the fleet is reaped here.
    """
    configure(proxy, 0, args.fleet_tps)
    run_env = dict(env, **fleet_references(args.fleet_references))
    argv = [args.aws_init, "--timeout", args.fleet_timeout, "--", TRUE]
    started, pidfds, outcomes = {}, {}, {}
    poller = select.poll()
    first = time.perf_counter()
    for index in range(args.fleet):
        pid, path = spawner.spawn(argv, run_env, name=f"fleet-{index:03d}")
        started[pid] = (time.perf_counter(), path)
        fd = os.pidfd_open(pid)
        pidfds[fd] = pid
        poller.register(fd, select.POLLIN)
    spawned = time.perf_counter() - first
    while pidfds:
        for fd, _ in poller.poll():
            pid = pidfds.pop(fd)
            poller.unregister(fd)
            os.close(fd)
            _, status = os.waitpid(pid, 0)
            outcomes[pid] = (time.perf_counter(), os.waitstatus_to_exitcode(status))
    counted = configure(proxy, 0)

    starts, failures = [], collections.Counter()
    for pid, (ended, code) in outcomes.items():
        spawn_time, path = started[pid]
        if code == 0:
            starts.append(ended - spawn_time)
        else:
            with open(path) as file:
                failures[failure_reason(file.read())] += 1
    return {
        "spawned": spawned,
        "whole": max(ended for ended, _ in outcomes.values()) - first,
        "starts": sorted(starts),
        "failures": failures,
        "calls": counted["calls"],
        "throttled": counted["throttled"],
    }


def failure_reason(stderr):
    """The AWS error code or the deadline that aws-init names, never a
    value (aws-init prints none)."""
    codes = re.findall(r"\b[A-Z][A-Za-z]*(?:Exception|Error)\b", stderr)
    if codes:
        return collections.Counter(codes).most_common(1)[0][0]
    if "--timeout" in stderr:
        return "no answer within --timeout"
    lines = stderr.strip().splitlines()
    return lines[-1][:100] if lines else "no message"


# --- 3. no references -------------------------------------------------------


def bench_no_references(args, spawner, env):
    """Whole-process wall time of `aws-init true` and `tini true`, with no
    reference in the environment, interleaved. tini, not being PID 1 here,
    prints a warning on every start; it goes to the stderr file."""
    cases = [("aws-init", [args.aws_init, "--", TRUE]), ("tini", [TINI, "--", TRUE])]
    samples = {name: [] for name, _ in cases}
    warmup = max(5, args.plain_runs // 50)
    for round_ in range(warmup + args.plain_runs):
        for name, argv in rotated(cases, round_):
            elapsed = spawner.run(name, argv, env)
            if round_ >= warmup:
                samples[name].append(elapsed)
    return {
        name: {"median": statistics.median(values), "blocks": [statistics.median(b) for b in blocks(values)]}
        for name, values in samples.items()
    }


# --- the report -------------------------------------------------------------


def duration(ns):
    return f"{ns / 1e9:.2f} s" if ns >= 1e9 else f"{ns / 1e6:.1f} ms"


def round_trip_limit(size, concurrency):
    """Two round trips for up to `concurrency` references, and one more for
    each further multiple of it."""
    return 1 + math.ceil(size / concurrency)


def describe_calls(calls):
    if not calls:
        return "none"
    total = sum(calls.values())
    return f"{total:,} (" + ", ".join(f"{n:,} {action}" for action, n in sorted(calls.items())) + ")"


def version(argv, env):
    run = subprocess.run(argv, env=env, capture_output=True, text=True)
    return (run.stdout or run.stderr).strip().splitlines()[0]


def cli_version(line):
    """`aws --version` prints aws-cli/V Python/V Linux/V botocore/V; the CLI
    carries a botocore of its own, apart from boto3's."""
    fields = dict(field.split("/", 1) for field in line.split() if "/" in field)
    return f"aws-cli {fields.get('aws-cli', '?')} (its own botocore {fields.get('botocore', '?')})"


def latency_report(args, latency):
    times, delay = latency["times"], args.delay
    peers = ("boto3", "aws CLI")

    def cell(name, size, at):
        value = times.get((name, size, at))
        if value is None:
            return "not run"
        if name == "aws-init":
            return duration(value)
        return f"{duration(value)} ({value / times['aws-init', size, at]:.1f}×)"

    def trips(name, size):
        if (name, size, delay) not in times or (name, size, 0) not in times:
            return None
        return (times[name, size, delay] - times[name, size, 0]) / (delay * 1e6)

    lines = [
        f"Wall time of `RESOLVER true` with N references, half secrets and half parameters, "
        f"with each response held 0 ms and {delay} ms by the proxy; medians of "
        f"{args.runs} runs for aws-init, {args.peer_runs} for boto3 and {args.cli_runs} for the CLI. "
        "Ratios in brackets are against aws-init at the same delay. Round trips: the time added by "
        f"the delay, divided by {delay} ms.",
        "",
        f"| N | aws-init, 0 ms | aws-init, +{delay} ms | round trips | aws-init's API calls "
        f"| boto3, 0 ms | boto3, +{delay} ms | aws CLI, 0 ms | aws CLI, +{delay} ms | target for aws-init |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for size in LATENCY_SIZES:
        measured = trips("aws-init", size)
        limit = round_trip_limit(size, args.concurrency)
        goal = "met" if measured <= limit else "**not met**"
        lines.append(
            f"| {size} | {cell('aws-init', size, 0)} | {cell('aws-init', size, delay)} | {measured:.1f} "
            f"| {describe_calls(latency['calls'].get(size))} "
            + "".join(f"| {cell(p, size, 0)} | {cell(p, size, delay)} " for p in peers)
            + f"| ≤ {limit} round trips: {goal} |"
        )
    lines.append("")
    for peer in peers:
        measured = [(size, trips(peer, size)) for size in LATENCY_SIZES]
        lines.append(
            f"- Round trips for {peer}: "
            + ", ".join(f"N = {size}: {value:.1f}" for size, value in measured if value is not None)
            + "."
        )
    lines.append(
        f"- Target: N = 1, 10 and 50 within 2 round trips beyond the 0 ms time; one more round trip "
        f"for each further multiple of the concurrency bound ({args.concurrency}), so ≤ "
        f"{round_trip_limit(200, args.concurrency)} for N = 200."
    )
    return lines


def fleet_report(args, fleet):
    starts, total = fleet["starts"], args.fleet
    calls, throttled = fleet["calls"], fleet["throttled"]
    reads = ("GetParameter", "GetParameters", "GetParametersByPath")
    answered = sum(calls.get(a, 0) for a in reads)
    refused = sum(throttled.values())
    naive = total * args.fleet_references
    if starts:
        spread = " / ".join(
            duration(v * 1e9) for v in (starts[0], statistics.median(starts), percentile(starts, 0.9), starts[-1])
        )
    else:
        spread = "none started"
    failures = ", ".join(f"{n} {reason}" for reason, n in fleet["failures"].most_common()) or "none"
    goal = "met" if len(starts) == total else "**not met**"
    lines = [
        f"{total} aws-init processes started at once (spawning all took {fleet['spawned'] * 1e3:.0f} ms), "
        f"each with {args.fleet_references} Parameter Store references and `--timeout {args.fleet_timeout}`, "
        f"behind the proxy answering Parameter Store reads beyond {args.fleet_tps} a second with a 400 "
        "ThrottlingException, and adding no delay. One call per parameter is computed, not measured.",
        "",
        "| | aws-init | one call per parameter | target for aws-init |",
        "|---|---:|---:|---|",
        f"| commands started (exit 0) | {len(starts)} of {total} | | all {total}, within "
        f"`--timeout {args.fleet_timeout}`: {goal} |",
        f"| start time after spawn: min / median / p90 / max | {spread} | | |",
        f"| failed | {failures} | | |",
        f"| Parameter Store calls answered | {describe_calls({a: calls[a] for a in reads if a in calls})} "
        f"| {naive:,} GetParameter ({answered / naive:.2f}×) | |",
        f"| … refused, ThrottlingException | {describe_calls(throttled)} | | |",
        f"| all API calls, answered or refused | {sum(calls.values()) + refused:,} | {naive:,} | |",
        f"| least time at {args.fleet_tps} a second for the calls answered "
        f"| {answered / args.fleet_tps:.1f} s | {naive / args.fleet_tps:.1f} s | |",
        f"| whole fleet, first spawn to last exit | {duration(fleet['whole'] * 1e9)} | | |",
    ]
    return lines


def plain_report(args, plain):
    ours, ref = plain["aws-init"], plain["tini"]
    ratios = [a / b for a, b in zip(ours["blocks"], ref["blocks"])]
    return [
        f"Whole-process wall time with no reference in the environment, median of {args.plain_runs:,} "
        f"interleaved runs; judged on each of {BLOCKS} consecutive blocks of them.",
        "",
        "| | aws-init | tini | target for aws-init |",
        "|---|---:|---:|---|",
        f"| `INIT true` | {ours['median'] / 1e6:.2f} ms ({ours['median'] / ref['median']:.2f}×) "
        f"| {ref['median'] / 1e6:.2f} ms (1.00×) | ≤ 1.2× tini: {verdict(ratios, 1.2)} |",
    ]


def report(args, results, versions, load, took):
    lines = [f"### Resolving references: aws-init against boto3 and the aws CLI{' (quick run)' if args.quick else ''}", ""]
    if load > 0.05:
        lines += [f"**Warning: other processes kept {load:.0%} of the CPUs busy during this run; "
                  "wall times are unreliable.**", ""]
    lines += ["#### Latency", ""] + latency_report(args, results["latency"])
    lines += ["", "#### Fleet start", ""] + fleet_report(args, results["fleet"])
    lines += ["", "#### No references", ""] + plain_report(args, results["plain"])
    lines += [
        "",
        f"- Kernel: {platform.system()} {platform.release()} {platform.version()}; "
        f"{os.cpu_count()} CPUs ({cpu_model()}). Other processes used {load:.0%} of the CPUs during the run.",
        f"- Versions: {args.aws_init_version}, release build; {versions['boto3']}; {versions['cli']}; "
        f"emulator: moto {versions['moto']}; {versions['tini']} as Debian packages it; Python "
        f"{platform.python_version()} for the proxy.",
        "- Every process talks only to the proxy on 127.0.0.1, which forwards to the emulator (moto's "
        "server) on 127.0.0.1, in a network namespace of its own with nothing but lo. Credentials are "
        "dummies from the environment; no configuration file is read. The emulator answers one request "
        "at a time, so each size's 0 ms run is its baseline.",
        f"- Reproduce: `./scripts/bench-resolve` (`--quick` for a smoke run). This run took {took:.0f} s.",
    ]
    return "\n".join(lines)


def drive(args):
    bring_up_loopback()
    if args.quick:
        args.runs, args.peer_runs, args.cli_runs, args.cli_max, args.plain_runs = 3, 1, 1, 10, 200
    watch = OtherLoad()
    workdir = tempfile.mkdtemp(prefix="bench-resolve.")
    home = os.path.join(workdir, "home")
    os.mkdir(home)
    servers = []
    try:
        emulator_env = aws_env("http://127.0.0.1:1", home)
        del emulator_env["AWS_ENDPOINT_URL"]
        emulator = Server([args.emulator_python, "-I", os.path.join(HERE, "emulator.py")], emulator_env)
        servers.append(emulator)
        proxy = Server([sys.executable, "-I", os.path.join(HERE, "bench_resolve_proxy.py"),
                        "--upstream", emulator.endpoint], emulator_env)
        servers.append(proxy)
        log("seeding the emulator")
        seed(args, emulator, emulator_env)
        env = aws_env(proxy.endpoint, home)
        spawner = Spawner(workdir)

        results = {}
        log(f"latency: N = {', '.join(map(str, LATENCY_SIZES))} at 0 and +{args.delay} ms")
        results["latency"] = bench_latency(args, spawner, proxy, env)
        log(f"fleet: {args.fleet} aws-init at once, {args.fleet_tps} Parameter Store reads a second")
        results["fleet"] = bench_fleet(args, spawner, proxy, env)
        log(f"no references: {args.plain_runs} runs of each")
        results["plain"] = bench_no_references(args, spawner, env)

        versions = {
            "boto3": version([args.peer_python, "-I", "-c",
                              "import boto3, botocore; print(f'boto3 {boto3.__version__} "
                              "(botocore {botocore.__version__})')"], env),
            "cli": cli_version(version(["aws", "--version"], resolvers(args, env)[2][2])),
            "moto": version([args.emulator_python, "-I", "-c", "import moto; print(moto.__version__)"], env),
            "tini": version([TINI, "--version"], env),
        }
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    took, load = watch.took(), watch.share()
    sys.stdout.reconfigure(encoding="utf-8")
    print(report(args, results, versions, load, took))


def main():
    parser = argparse.ArgumentParser(description="Benchmark aws-init's resolution against boto3 and the aws CLI.")
    parser.add_argument("--aws-init", required=True, help="the aws-init binary")
    parser.add_argument("--aws-init-version", default="aws-init", help="how to name it in the report")
    parser.add_argument("--emulator-python", required=True, help="Python with moto, for emulator.py")
    parser.add_argument("--peer-python", required=True, help="Python in the virtualenv with boto3 and awscli")
    parser.add_argument("--quick", action="store_true", help="few runs, for a smoke test")
    parser.add_argument("--delay", type=int, default=50, help="ms the proxy holds each response")
    parser.add_argument("--concurrency", type=int, default=64, help="aws-init's bound on concurrent calls")
    parser.add_argument("--runs", type=int, default=9, help="aws-init runs of each size and delay")
    parser.add_argument("--peer-runs", type=int, default=3, help="boto3 runs of each size and delay")
    parser.add_argument("--cli-runs", type=int, default=1, help="aws CLI runs of each size and delay")
    parser.add_argument("--cli-max", type=int, default=200, help="largest N the aws CLI runs")
    parser.add_argument("--fleet", type=int, default=200, help="aws-init processes in the fleet")
    parser.add_argument("--fleet-references", type=int, default=10, help="parameters each one resolves")
    parser.add_argument("--fleet-tps", type=int, default=40, help="Parameter Store reads a second")
    parser.add_argument("--fleet-timeout", default="60s", help="aws-init's --timeout in the fleet")
    parser.add_argument("--plain-runs", type=int, default=1000, help="runs of each with no references")
    args = parser.parse_args()
    args.aws_init = os.path.abspath(args.aws_init)
    drive(args)


if __name__ == "__main__":
    main()
