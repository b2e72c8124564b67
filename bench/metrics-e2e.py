#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# End-to-end cost of --metrics: the tracer's CPU per event while
# bench/loadgen.c makes N loopback connections (10 state changes each, in a
# private network namespace), for tcpstates writing rows to /dev/null,
# tcpstates --metrics (no rows), and tcpstates --metrics --json to /dev/null.
# CPU: utime + stime of the whole process (all threads) from /proc/PID/stat,
# from the start of the load to 0.5 s after it. As root, after npm run build:
#   make dist/bench/loadgen
#   flock /tmp/kernel.lock python3 bench/metrics-e2e.py dist/bench/loadgen 50000
import os, re, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf('SC_CLK_TCK')
MODES = {'rows': [], '--metrics': ['--metrics', '0'], '--metrics --json': ['--metrics', '0', '--json']}


def cpu_seconds(pid):
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    loadgen, connections = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    for _ in range(rounds):
        for name, args in MODES.items():
            with tempfile.NamedTemporaryFile('w+') as err:
                tool = subprocess.Popen(['node', f'{ROOT}/bin/tcpstates', *args], stdout=subprocess.DEVNULL, stderr=err)
                time.sleep(2)  # attached (the header or the start notice comes well before)
                before = cpu_seconds(tool.pid)
                load = subprocess.run([loadgen, '--netns', '--count', str(connections), '--port', '9', '--addresses', '16'],
                                      capture_output=True, text=True)
                time.sleep(0.5)
                used = cpu_seconds(tool.pid) - before
                tool.send_signal(signal.SIGINT)
                tool.wait()
                err.seek(0)
                match = re.search(r'(\d+) events read, (\d+) lost', err.read())
                events, lost = int(match.group(1)), int(match.group(2))
                print(f'{name:18s} events={events} lost={lost} tracer CPU {used:.2f} s = {1e6 * used / max(events, 1):.2f} us/event'
                      f'  ({load.stdout.strip()})', flush=True)


main()
