# SPDX-License-Identifier: MIT
# Test oracle: formats rows with the printf format strings of bcc's Python
# tcpstates and tcplife (tools/tcpstates.py, tools/tcplife.py, with the
# 39-character wide addresses of bcc commit 01673352), exactly as those
# tools apply them. Reads a JSON list of {tool, mode, events} on stdin and
# prints one line per header/row. No wall-clock column (-T): that one depends
# on when it is printed.
import json
import sys

TCPSTATES = {
    'default': ("%-16s %-5s %-10.10s %s%-15s %-5s %-15s %-5s %-11s -> %-11s %s",
                "%-16x %-5d %-10.10s %s%-15s %-5d %-15s %-5d %-11s -> %-11s %.3f"),
    'wide': ("%-16s %-5s %-16.16s %-2s %-39s %-5s %-39s %-5s %-11s -> %-11s %s",
             "%-16x %-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %-11s -> %-11s %.3f"),
    'csv': ("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s",
            "%x,%d,%s,%s,%s,%s,%s,%d,%s,%s,%.3f"),
}
TCPLIFE = {
    'default': ("%-5s %-10.10s %s%-15s %-5s %-15s %-5s %5s %5s %s",
                "%-5d %-10.10s %s%-15s %-5d %-15s %-5d %5d %5d %.2f"),
    'wide': ("%-5s %-16.16s %-2s %-39s %-5s %-39s %-5s %6s %6s %s",
             "%-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %6d %6d %.2f"),
    'csv': ("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s",
            "%d,%s,%s,%s,%s,%s,%d,%d,%d,%.2f"),
}
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
          6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
          11: "CLOSING", 12: "NEW_SYN_RECV"}


def state(n):
    return STATES.get(n, str(n))


def prefix(mode, timestamp, e, start):
    out = ""
    if timestamp:
        delta_s = (float(e['ts_us']) - start) / 1000000
        out += ("%.6f," % delta_s) if mode == 'csv' else ("%-9.6f " % delta_s)
    return out


def header_prefix(mode, timestamp):
    if not timestamp:
        return ""
    return "%s," % "TIME(s)" if mode == 'csv' else "%-9s " % "TIME(s)"


def run(job):
    tool, mode, timestamp = job['tool'], job['mode'], job.get('timestamp', False)
    ip_slot = lambda fam: ("4" if fam == 2 else "6") if mode in ('wide', 'csv') else ""
    lines = []
    if tool == 'tcpstates':
        header, row = TCPSTATES[mode]
        lines.append(header_prefix(mode, timestamp) + header % (
            "SKADDR", "C-PID", "C-COMM", "IP" if mode in ('wide', 'csv') else "",
            "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE", "MS"))
    else:
        header, row = TCPLIFE[mode]
        lines.append(header_prefix(mode, timestamp) + header % (
            "PID", "COMM", "IP" if mode in ('wide', 'csv') else "", "LADDR",
            "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS"))
    start = 0
    for e in job['events']:
        if start == 0:
            start = e['ts_us']
        if tool == 'tcpstates':
            text = row % (int(e['skaddr_hex'], 16), e['pid'], e['comm'], ip_slot(e['family']),
                          e['saddr'], e['lport'], e['daddr'], e['dport'],
                          state(e['oldstate']), state(e['newstate']),
                          float(e['span_us']) / 1000)
        else:
            # tcplife prints the owner when one was seen, else the on-CPU task.
            pid, comm = (e['owner_pid'], e['owner_comm']) if e['owner_pid'] else (e['pid'], e['comm'])
            text = row % (pid, comm, ip_slot(e['family']),
                          e['saddr'], e['lport'], e['daddr'], e['dport'],
                          e['tx_b'] / 1024, e['rx_b'] / 1024, float(e['span_us']) / 1000)
        lines.append(prefix(mode, timestamp, e, start) + text)
    return lines


out = []
for job in json.load(sys.stdin):
    out.append(run(job))
json.dump(out, sys.stdout)
