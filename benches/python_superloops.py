#!/usr/bin/env python3
"""The scenarios of `cargo run --release --example bench`, run on Python SuperLoops 0.1.4,
each beside a hand-written `threading` baseline, so that the figures of the two libraries can
be read side by side.

    pip install superloops==0.1.4
    python3 benches/python_superloops.py            # every figure, about a minute
    python3 benches/python_superloops.py start stop # only figures whose name contains a word

One line per figure: `name superloops_py=... baseline_py=... unit ratio=... reps=...`, medians,
ratio = SuperLoops / baseline. Figures report; nothing asserts a timing.

How SuperLoops 0.1.4 differs, which some figures show:
- A cycle has no stop token: `stop()` sets a flag that the loop reads between cycles, so a
  cycle blocked in `time.sleep` or `queue.get` holds `stop()` for the whole grace period
  (`stop_latency_sleep_plain`). The usable idiom is an Event set in `on_stop`, which 0.1.4 runs
  *before* joining the thread; `stop_latency_sleep` and `stop_latency_recv` use it.
- The LoopController is itself a loop whose `cycle` checks the green light and returns: it
  spins, and holds a core (and the GIL) while nothing is wrong (`idle_controller_cpu`).
- A reset stops members one after another, each joined before the next is asked.
- Its threads are daemon threads; so are the baselines' (CPython 3.11 does O(threads) work
  at every start of a non-daemon thread, which would make the baseline quadratic).
"""

import gc
import logging
import queue
import statistics
import sys
import threading
import time

try:
    import superloops
    from superloops import LoopController, SuperLoop
except ImportError:  # pragma: no cover
    sys.exit("needs Python SuperLoops: pip install superloops==0.1.4")

logging.getLogger("superloops").setLevel(logging.CRITICAL)

LONG = 3600.0


def median(v):
    return statistics.median(v) if v else float("nan")


def fmt(x):
    if x == 0:
        return "0"
    if abs(x) >= 1e6 or abs(x) < 1e-2:
        return f"{x:.3e}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.2f}"


def report(name, unit, ours, base):
    o, b = median(ours), median(base)
    ratio = o / b if b else float("inf")
    print(
        f"{name} superloops_py={fmt(o)} baseline_py={fmt(b)} {unit} "
        f"ratio={ratio:.2f} reps={len(ours)}",
        flush=True,
    )


def us(seconds):
    return seconds * 1e6


# ----------------------------------------------------------------------------------------
# 1. Empty-cycle rate


class Empty(SuperLoop):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.began = self.ended = None

    def on_thread_start(self):
        self.began = time.perf_counter()

    def cycle(self):
        self.n += 1  # SuperLoops keeps no count of its own

    def on_thread_stop(self):
        self.ended = time.perf_counter()


def empty_cycle_rate(reps):
    window = 0.15
    ours, base = [], []
    for _ in range(reps):
        loop = Empty()
        loop.start()
        time.sleep(window)
        loop.stop()
        ours.append(loop.n / (loop.ended - loop.began))

        stop = threading.Event()
        out = {}

        def worker():
            began, n = time.perf_counter(), 0
            while not stop.is_set():
                n += 1
            out["rate"] = n / (time.perf_counter() - began)

        t = threading.Thread(target=worker, daemon=True)
        t.start()
        time.sleep(window)
        stop.set()
        t.join()
        base.append(out["rate"])
    report("empty_cycle_rate", "cycles_per_s", ours, base)


# ----------------------------------------------------------------------------------------
# 2. Stop latency


class EventSleeper(SuperLoop):
    """Sleeps on an Event that `on_stop` sets (0.1.4 runs on_stop before joining)."""

    def __init__(self, entered):
        super().__init__(grace_period=30)
        self.entered = entered
        self.wake = threading.Event()

    def on_start(self):
        self.wake.clear()
        return True

    def on_stop(self):
        self.wake.set()

    def cycle(self):
        self.entered.put(None)
        self.wake.wait(10)


class PlainSleeper(SuperLoop):
    def __init__(self, entered):
        super().__init__(grace_period=1)
        self.entered = entered

    def cycle(self):
        self.entered.put(None)
        time.sleep(10)


def stop_latency_sleep(reps):
    entered = queue.Queue()
    loop = EventSleeper(entered)
    ours, base = [], []
    for _ in range(reps):
        loop.start()
        entered.get()
        time.sleep(0.002)
        t0 = time.perf_counter()
        loop.stop()
        ours.append(us(time.perf_counter() - t0))

        cv = threading.Condition()
        state = {"stop": False}
        ready = queue.Queue()

        def worker():
            ready.put(None)
            with cv:
                while not state["stop"]:
                    cv.wait(10)

        t = threading.Thread(target=worker, daemon=True)
        t.start()
        ready.get()
        time.sleep(0.002)
        t0 = time.perf_counter()
        with cv:
            state["stop"] = True
            cv.notify_all()
        t.join()
        base.append(us(time.perf_counter() - t0))
    report("stop_latency_sleep", "us", ours, base)


def stop_latency_sleep_plain(reps):
    """A cycle in time.sleep(10): stop() waits out its 1 s grace and leaves the thread."""
    entered = queue.Queue()
    ours, left = [], 0
    for _ in range(reps):
        loop = PlainSleeper(entered)
        loop.start()
        entered.get()
        t0 = time.perf_counter()
        if not loop.stop():
            left += 1
        ours.append(us(time.perf_counter() - t0))
    print(
        f"stop_latency_sleep_plain superloops_py={fmt(median(ours))} us "
        f"threads_left_running={left}/{reps} (grace_period=1)",
        flush=True,
    )


class Receiving(SuperLoop):
    """Waits on a queue; `on_stop` puts a wake-up item (the 0.1.4 idiom)."""

    WAKE = object()

    def __init__(self, jobs, entered):
        super().__init__(grace_period=30)
        self.jobs, self.entered, self.sum = jobs, entered, 0

    def on_stop(self):
        self.jobs.put(Receiving.WAKE)

    def cycle(self):
        self.entered.put(None)
        job = self.jobs.get()
        if job is not Receiving.WAKE:
            self.sum += job


def stop_latency_recv(reps):
    jobs, entered = queue.Queue(), queue.Queue()
    loop = Receiving(jobs, entered)
    ours, base = [], []
    for _ in range(reps):
        loop.start()
        entered.get()
        time.sleep(0.002)
        t0 = time.perf_counter()
        loop.stop()
        ours.append(us(time.perf_counter() - t0))
        while not jobs.empty():
            jobs.get()

        q, ready = queue.Queue(), queue.Queue()

        def worker():
            ready.put(None)
            while q.get() is not None:
                pass

        t = threading.Thread(target=worker, daemon=True)
        t.start()
        ready.get()
        time.sleep(0.002)
        t0 = time.perf_counter()
        q.put(None)
        t.join()
        base.append(us(time.perf_counter() - t0))
    report("stop_latency_recv", "us", ours, base)


# ----------------------------------------------------------------------------------------
# 3. Start latency


class Starter(EventSleeper):
    def __init__(self, started):
        super().__init__(queue.Queue())
        self.started = started

    def on_thread_start(self):
        now = time.perf_counter()
        self.started.put(now)


def start_latency(reps):
    started = queue.Queue()
    loop = Starter(started)
    ours, base = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        loop.start()
        ours.append(us(started.get() - t0))
        loop.stop()

        first = queue.Queue()
        go = threading.Event()

        def worker():
            now = time.perf_counter()
            first.put(now)
            go.wait(LONG)

        t0 = time.perf_counter()
        t = threading.Thread(target=worker, daemon=True)
        t.start()
        base.append(us(first.get() - t0))
        go.set()
        t.join()
    report("start_latency", "us", ours, base)


# ----------------------------------------------------------------------------------------
# 4. Group restart latency


class Arrivals:
    def __init__(self):
        self.cv = threading.Condition()
        self.count, self.last = 0, None

    def arrive(self):
        now = time.perf_counter()
        with self.cv:
            self.count += 1
            self.last = now if self.last is None else max(self.last, now)
            self.cv.notify_all()

    def wait_for(self, n):
        with self.cv:
            while self.count < n:
                self.cv.wait()
            return self.last


class Member(EventSleeper):
    def __init__(self, arrivals, max_loop_failures=10):
        super().__init__(queue.Queue())
        self._max_loop_failures = max_loop_failures
        self.arrivals = arrivals

    def on_thread_start(self):
        self.arrivals.arrive()

    def cycle(self):
        self.wake.wait(LONG)


def group_restart(n, reps):
    arrivals = Arrivals()
    controller = LoopController()
    trigger = controller.new_loop(Member(arrivals, max_loop_failures=0))
    for _ in range(n - 1):
        controller.new_loop(Member(arrivals))
    controller.maintain_loops()
    controller.start()
    arrivals.wait_for(n)

    base_arrivals = Arrivals()

    def spawn_all():
        threads = []
        for _ in range(n):
            ev = threading.Event()

            def worker(ev=ev):
                base_arrivals.arrive()
                ev.wait(LONG)

            t = threading.Thread(target=worker, daemon=True)
            t.start()
            threads.append((ev, t))
        return threads

    ours, base = [], []
    for rep in range(reps):
        t0 = time.perf_counter()
        trigger.failure()
        ours.append(us(arrivals.wait_for(n * (rep + 2)) - t0))
        while not controller.green_light.is_set():
            time.sleep(0.001)
    # Not alternated with the baseline: the controller's thread spins, holding the GIL half
    # the time, and would slow the baseline down twentyfold.
    controller.stop()

    threads = spawn_all()
    base_arrivals.wait_for(n)
    for rep in range(reps):
        t0 = time.perf_counter()
        for ev, _ in threads:
            ev.set()
        for _, t in threads:
            t.join()
        threads = spawn_all()
        base.append(us(base_arrivals.wait_for(n * (rep + 2)) - t0))
    for ev, _ in threads:
        ev.set()
    for _, t in threads:
        t.join()
    report(f"group_restart_{n}", "us", ours, base)


# ----------------------------------------------------------------------------------------
# 5. CPU of an idle controller


class Napper(SuperLoop):
    def __init__(self):
        super().__init__(grace_period=30)
        self.wake = threading.Event()

    def on_start(self):
        self.wake.clear()
        return True

    def on_stop(self):
        self.wake.set()

    def cycle(self):
        self.wake.wait(0.1)


def cpu_per_s(window):
    c0, t0 = time.process_time(), time.perf_counter()
    time.sleep(window)
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def idle_controller_cpu(reps):
    ours, base = [], []
    for _ in range(reps):
        controller = LoopController()
        for _ in range(8):
            controller.new_loop(Napper())
        controller.maintain_loops()
        controller.start()
        time.sleep(0.2)
        ours.append(cpu_per_s(1.5))
        controller.stop()

        loops = [Napper() for _ in range(8)]
        for loop in loops:
            loop.start()
        time.sleep(0.2)
        base.append(cpu_per_s(1.5))
        for loop in loops:
            loop.stop()
    report("idle_controller_cpu", "cpu_s_per_s", ours, base)
    print(
        f"idle_controller_cpu_added superloops_py={fmt(median(ours) - median(base))} "
        "cpu_s_per_s",
        flush=True,
    )


# ----------------------------------------------------------------------------------------
# 6. Thousands of loops under one controller


def vm_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    return float("nan")


class Idle(SuperLoop):
    def __init__(self, arrivals):
        super().__init__(grace_period=30)
        self.arrivals = arrivals
        self.wake = threading.Event()

    def on_start(self):
        self.wake.clear()
        return True

    def on_stop(self):
        self.wake.set()

    def on_thread_start(self):
        self.arrivals.arrive()

    def cycle(self):
        self.wake.wait(LONG)


def many(n, side):
    """One side of the figure, in this process: (start_ms, stop_ms, rss_kib_per_loop)."""
    gc.collect()
    arrivals = Arrivals()
    rss0 = vm_rss_kib()
    if side == "superloops":
        controller = LoopController()
        for _ in range(n):
            controller.new_loop(Idle(arrivals))
        t0 = time.perf_counter()
        controller.maintain_loops()
        arrivals.wait_for(n)
        start = time.perf_counter() - t0
        rss1 = vm_rss_kib()
        t0 = time.perf_counter()
        controller.stop_loops()
        stop = time.perf_counter() - t0
    else:
        threads = []
        t0 = time.perf_counter()
        for _ in range(n):
            ev = threading.Event()

            def worker(ev=ev):
                arrivals.arrive()
                ev.wait(LONG)

            t = threading.Thread(target=worker, daemon=True)
            t.start()
            threads.append((ev, t))
        arrivals.wait_for(n)
        start = time.perf_counter() - t0
        rss1 = vm_rss_kib()
        t0 = time.perf_counter()
        for ev, _ in threads:
            ev.set()
        for _, t in threads:
            t.join()
        stop = time.perf_counter() - t0
    return start * 1e3, stop * 1e3, (rss1 - rss0) / n


def many_loops(n, reps):
    import subprocess

    ours, base = [], []
    for _ in range(reps):
        for side, out in (("superloops", ours), ("baseline", base)):
            r = subprocess.run(
                [sys.executable, __file__, "--child", side, str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(tuple(float(x) for x in r.stdout.split()))
    for i, what, unit in ((0, "start_all", "ms"), (1, "stop_all", "ms"), (2, "rss_per_loop", "KiB")):
        report(f"many_{n}_{what}", unit, [r[i] for r in ours], [r[i] for r in base])


# ----------------------------------------------------------------------------------------


def main(args):
    if args and args[0] == "--child":
        threading.stack_size(64 * 1024)  # as the Rust figure: 64 KiB stacks on both sides
        print(*many(int(args[2]), args[1]))
        return
    wanted = lambda name: not args or any(a in name for a in args)  # noqa: E731
    began = time.perf_counter()
    print(
        f"# Python SuperLoops {getattr(superloops, '__version__', '0.1.4')} on "
        f"Python {sys.version.split()[0]}; medians, ratio = SuperLoops / baseline",
        flush=True,
    )
    if wanted("empty_cycle_rate"):
        empty_cycle_rate(7)
    if wanted("stop_latency_sleep"):
        stop_latency_sleep(41)
        stop_latency_sleep_plain(3)
    if wanted("stop_latency_recv"):
        stop_latency_recv(41)
    if wanted("start_latency"):
        start_latency(61)
    for n, reps in ((2, 31), (8, 21), (64, 9)):
        if wanted(f"group_restart_{n}"):
            group_restart(n, reps)
    if wanted("idle_controller_cpu"):
        idle_controller_cpu(3)
    for n, reps in ((1_000, 3), (10_000, 1)):
        if wanted(f"many_{n}"):
            many_loops(n, reps)
    print(f"# done in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
