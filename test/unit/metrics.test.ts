// SPDX-License-Identifier: MIT
// --metrics, pure parts: the exposition formats (exact text), the
// aggregates of tcpstates and tcplife, the address option, the HTTP
// endpoint on loopback, and the container/error additions to rows.

import { execFileSync } from 'node:child_process';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import { DURATION_BUCKETS_SECONDS, Exposition, FixedHistogram, negotiateFormat } from '../../src/metrics/exposition.js';
import { failureReason, roleLabel, stateLabel, TcplifeMetrics, TcpstatesMetrics } from '../../src/metrics/tcp-metrics.js';
import { parseMetricsAddress, startMetricsServer } from '../../src/metrics/server.js';
import { DEFAULT_METRICS_PORTS } from '../../src/metrics/ports.js';
import { parseCgroup2Mount, CgroupPaths, findCgroup2Mount, resolveCgroupOption } from '../../src/sys/cgroup.js';
import { resolveNetnsOption } from '../../src/sys/netns.js';
import { checkedValue } from '../../src/cli/options.js';
import { tcplifeJson, tcpstatesJson } from '../../src/format/json.js';
import { appendContainerColumns, containerHeader } from '../../src/format/container-columns.js';
import { ByteOutput } from '../../src/format/output.js';
import { EnvironmentError, UsageError } from '../../src/errors.js';
import { parseTcpstatesArgs } from '../../src/cli/tcpstates.js';
import { parseTcplifeArgs } from '../../src/cli/tcplife.js';
import { sampleEvent } from '../../harness/events.js';

const ECONNREFUSED = 111;
const ETIMEDOUT = 110;
const ECONNRESET = 104;

/** The bucket lines of one histogram series, counts cumulative. */
function bucketLines(name: string, labels: string, cumulative: readonly number[], count: number): string {
  const sep = labels === '' ? '' : ',';
  return (
    DURATION_BUCKETS_SECONDS.map((le, i) => `${name}_bucket{${labels}${sep}le="${String(le)}"} ${cumulative[i]}\n`).join('') +
    `${name}_bucket{${labels}${sep}le="+Inf"} ${count}\n`
  );
}

describe('exposition', () => {
  test('15 buckets from 10 µs to 1 h', () => {
    assert.equal(DURATION_BUCKETS_SECONDS.length, 15);
    assert.equal(DURATION_BUCKETS_SECONDS[0], 1e-5);
    assert.equal(DURATION_BUCKETS_SECONDS.at(-1), 3600);
  });

  test('a histogram puts a value equal to a bound in that bucket (le), above all in +Inf', () => {
    const histogram = new FixedHistogram();
    histogram.observeNs(10_000); // exactly 1e-5 s
    histogram.observeNs(10_001);
    histogram.observeNs(7_200e9); // 2 h
    assert.equal(histogram.counts[0], 1);
    assert.equal(histogram.counts[1], 1);
    assert.equal(histogram.counts[15], 1);
    assert.equal(histogram.count, 3);
  });

  test('Prometheus text 0.0.4 and OpenMetrics, exact', () => {
    const histogram = new FixedHistogram();
    histogram.observeNs(2_000_000); // 2 ms: bucket le=0.005
    const build = (format: 'prometheus' | 'openmetrics') =>
      new Exposition(format)
        .counter('x_events_total', 'Events.', [[[['kind', 'a"b\\c\nd']], 3]])
        .histogram('x_seconds', 'Time.', [[[], histogram]])
        .end();
    const cumulative = DURATION_BUCKETS_SECONDS.map((le) => (le >= 0.005 ? 1 : 0));
    const body =
      'x_events_total{kind="a\\"b\\\\c\\nd"} 3\n' +
      '# HELP x_seconds Time.\n# TYPE x_seconds histogram\n' +
      bucketLines('x_seconds', '', cumulative, 1) +
      'x_seconds_sum 0.002\nx_seconds_count 1\n';
    assert.equal(build('prometheus'), `# HELP x_events_total Events.\n# TYPE x_events_total counter\n${body}`);
    assert.equal(build('openmetrics'), `# HELP x_events Events.\n# TYPE x_events counter\n${body}# EOF\n`);
  });

  test('OpenMetrics only when the Accept header names it', () => {
    assert.equal(negotiateFormat(undefined), 'prometheus');
    assert.equal(negotiateFormat('text/plain;version=0.0.4;q=0.3,*/*;q=0.2'), 'prometheus');
    assert.equal(
      negotiateFormat('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'),
      'openmetrics',
    );
  });
});

describe('tcpstates metrics', () => {
  test('counts by transition and family; durations without first-seen transitions', () => {
    const metrics = new TcpstatesMetrics();
    metrics.add({ oldState: 7, newState: 2, family: 2, deltaNs: 0 }); // CLOSE -> SYN_SENT, first seen
    metrics.add({ oldState: 2, newState: 1, family: 2, deltaNs: 50_000 }); // 50 µs
    metrics.add({ oldState: 2, newState: 1, family: 10, deltaNs: 3_000_000_000 }); // 3 s
    metrics.counts.events = 3;
    metrics.counts.lost = 2;
    const name = 'tcpstates_state_duration_seconds';
    const labels = 'old_state="syn_sent",new_state="established"';
    const cumulative = DURATION_BUCKETS_SECONDS.map((le) => (le >= 5 ? 2 : le >= 1e-4 ? 1 : 0));
    assert.equal(
      metrics.render('prometheus'),
      '# HELP tcpstates_transitions_total TCP state transitions seen.\n' +
        '# TYPE tcpstates_transitions_total counter\n' +
        'tcpstates_transitions_total{old_state="syn_sent",new_state="established",family="ipv4"} 1\n' +
        'tcpstates_transitions_total{old_state="syn_sent",new_state="established",family="ipv6"} 1\n' +
        'tcpstates_transitions_total{old_state="close",new_state="syn_sent",family="ipv4"} 1\n' +
        `# HELP ${name} Time sockets spent in old_state before the transition (first-seen transitions excluded).\n` +
        `# TYPE ${name} histogram\n` +
        bucketLines(name, labels, cumulative, 2) +
        `${name}_sum{${labels}} 3.00005\n${name}_count{${labels}} 2\n` +
        '# HELP tcpstates_events_total Events read from the kernel.\n# TYPE tcpstates_events_total counter\ntcpstates_events_total 3\n' +
        '# HELP tcpstates_events_lost_total Events lost (perf ring full, or the program busy on that CPU).\n' +
        '# TYPE tcpstates_events_lost_total counter\ntcpstates_events_lost_total 2\n',
    );
  });

  test('state labels are node_exporter\'s lowercase names', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(stateLabel),
      ['established', 'syn_sent', 'syn_recv', 'fin_wait1', 'fin_wait2', 'time_wait', 'close', 'close_wait', 'last_ack', 'listen', 'closing', 'new_syn_recv'],
    );
  });
});

describe('tcplife metrics', () => {
  test('sessions, bytes and durations by family and role; failed connects by reason', () => {
    const metrics = new TcplifeMetrics();
    const base = { family: 2, flags: 0, txBytes: 0, rxBytes: 0, deltaNs: 1_000_000, oldState: 1, skErr: 0 };
    metrics.add({ ...base, txBytes: 100, rxBytes: 2000 }); // client, ESTABLISHED... -> CLOSE
    metrics.add({ ...base, flags: 1, txBytes: 2000, rxBytes: 100 }); // server
    metrics.add({ ...base, oldState: 2, skErr: ECONNREFUSED }); // refused
    metrics.add({ ...base, family: 10, oldState: 2, skErr: ETIMEDOUT });
    metrics.add({ ...base, oldState: 2, skErr: 0 }); // closed by its process while connecting
    metrics.add({ ...base, oldState: 1, skErr: ECONNRESET }); // a reset session is no failed connect
    metrics.add({ ...base, flags: 1, oldState: 3, skErr: ECONNRESET }); // nor a server's
    metrics.counts.lost = 4;
    const text = metrics.render('prometheus');
    const samples = new Map(
      text
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))] as const),
    );
    assert.equal(samples.get('tcplife_sessions_total{family="ipv4",role="client"}'), 4);
    assert.equal(samples.get('tcplife_sessions_total{family="ipv4",role="server"}'), 2);
    assert.equal(samples.get('tcplife_sessions_total{family="ipv6",role="client"}'), 1);
    assert.equal(samples.get('tcplife_sessions_total{family="ipv6",role="server"}'), 0);
    assert.equal(samples.get('tcplife_sent_bytes_total{family="ipv4",role="client"}'), 100);
    assert.equal(samples.get('tcplife_received_bytes_total{family="ipv4",role="client"}'), 2000);
    assert.equal(samples.get('tcplife_sent_bytes_total{family="ipv4",role="server"}'), 2000);
    assert.equal(samples.get('tcplife_session_duration_seconds_count{family="ipv4",role="client"}'), 4);
    assert.equal(samples.get('tcplife_session_duration_seconds_bucket{family="ipv4",role="client",le="0.0005"}'), 0);
    assert.equal(samples.get('tcplife_session_duration_seconds_bucket{family="ipv4",role="client",le="0.001"}'), 4);
    assert.equal(samples.get('tcplife_session_duration_seconds_sum{family="ipv4",role="client"}'), 0.004);
    assert.equal(samples.get('tcplife_connect_failures_total{reason="econnrefused"}'), 1);
    assert.equal(samples.get('tcplife_connect_failures_total{reason="etimedout"}'), 1);
    assert.equal(samples.get('tcplife_connect_failures_total{reason="aborted"}'), 1);
    assert.equal(samples.get('tcplife_connect_failures_total{reason="econnreset"}'), undefined);
    assert.equal(samples.get('tcplife_events_lost_total'), 4);
    assert.match(metrics.render('openmetrics'), /^# TYPE tcplife_sessions counter$/m);
    assert.ok(metrics.render('openmetrics').endsWith('\n# EOF\n'));
  });

  test('tcplife: the session RTT histogram and retransmitted segments, from the tcp_info of the close records', () => {
    const metrics = new TcplifeMetrics();
    const base = { family: 2, flags: 0, txBytes: 0, rxBytes: 0, deltaNs: 1_000_000, oldState: 1, skErr: 0 };
    const info = { srttUs: 80, totalRetrans: 0, segsIn: 5, segsOut: 6, totalRto: 0 };
    metrics.add({ ...base, tcpInfo: info });
    metrics.add({ ...base, tcpInfo: { ...info, srttUs: 2000, totalRetrans: 3 } });
    metrics.add({ ...base, tcpInfo: { ...info, srttUs: 0 } }); // no RTT sample (a refused connect)
    metrics.add(base); // no tcp_info at all
    const text = metrics.render('prometheus');
    const sample = (name: string) => Number(/ (\S+)$/.exec(text.split('\n').find((line) => line.startsWith(`${name} `)) ?? '')?.[1]);
    assert.equal(sample('tcplife_session_rtt_seconds_count{family="ipv4",role="client"}'), 2);
    assert.equal(sample('tcplife_session_rtt_seconds_bucket{family="ipv4",role="client",le="0.0001"}'), 1);
    assert.equal(sample('tcplife_session_rtt_seconds_bucket{family="ipv4",role="client",le="0.005"}'), 2);
    assert.equal(sample('tcplife_retransmitted_segments_total{family="ipv4",role="client"}'), 3);
    assert.match(text, /^# TYPE tcplife_session_rtt_seconds histogram$/m);
  });

  test('labels', () => {
    assert.equal(roleLabel(0), 'client');
    assert.equal(roleLabel(1), 'server');
    assert.equal(failureReason(ECONNREFUSED), 'econnrefused');
    assert.equal(failureReason(0), 'aborted');
  });
});

describe('--metrics [HOST:]PORT', () => {
  test('valid addresses', () => {
    const valid = (text: string) => checkedValue(parseMetricsAddress(text, '--metrics'));
    assert.deepEqual(valid('9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(valid('0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(valid('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(valid('[::1]:9100'), { host: '::1', port: 9100 });
    assert.deepEqual(valid('localhost:80'), { host: 'localhost', port: 80 });
  });

  for (const [text, message] of [
    ['', '--metrics: invalid address "": expected [HOST:]PORT'],
    ['abc', '--metrics: invalid address "abc": expected [HOST:]PORT'],
    ['::1:9100', '--metrics: invalid address "::1:9100": expected [HOST:]PORT'],
    ['127.0.0.1:', '--metrics: invalid address "127.0.0.1:": expected [HOST:]PORT'],
    ['65536', '--metrics: port 65536 is out of range 0-65535'],
    ['a\x1b[2Jb:80', '--metrics: invalid address "a\\u001b[2Jb:80": expected [HOST:]PORT'],
    [`${'h'.repeat(120_000)}:80`, `--metrics: invalid address "${'h'.repeat(40)}..." (120003 characters): expected [HOST:]PORT`],
  ] as const) {
    test(`rejects ${JSON.stringify(text.slice(0, 20))}`, () => {
      assert.deepEqual(parseMetricsAddress(text, '--metrics'), { ok: false, problem: { kind: 'usage', message } });
    });
  }
});

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('the endpoint', () => {
  test('GET /metrics in the asked format, 404 elsewhere; a port in use is an error', async () => {
    const metrics = new TcpstatesMetrics();
    metrics.counts.events = 7;
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, (format) => metrics.render(format));
    try {
      assert.ok(server.port > 0);
      assert.equal(server.url, `http://127.0.0.1:${server.port}/metrics`);
      const text = await get(server.url);
      assert.equal(text.status, 200);
      assert.equal(text.type, 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(text.body, /^tcpstates_events_total 7$/m);
      const open = await get(server.url, { Accept: 'application/openmetrics-text; version=1.0.0' });
      assert.equal(open.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
      assert.ok(open.body.endsWith('# EOF\n'));
      assert.equal((await get(`http://127.0.0.1:${server.port}/`)).status, 404);
      assert.equal((await get(`http://127.0.0.1:${server.port}/metricsx`)).status, 404);
      await assert.rejects(
        startMetricsServer({ host: '127.0.0.1', port: server.port }, () => ''),
        (error: Error) => error.message === `--metrics: cannot listen on 127.0.0.1:${server.port}: EADDRINUSE`,
      );
    } finally {
      await server.close();
    }
  });
});

describe('containers: namespaces and cgroups', () => {
  test('the cgroup2 mount from mountinfo (hybrid, unified, escaped, none)', () => {
    const hybrid =
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n' +
      '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n' +
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
    assert.deepEqual(parseCgroup2Mount(hybrid), { mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    assert.deepEqual(parseCgroup2Mount('35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n'), {
      mountPoint: '/sys/fs/cgroup',
      root: '/',
    });
    assert.deepEqual(parseCgroup2Mount('35 24 0:30 /docker/ab /my\\040cg rw - cgroup2 cgroup2 rw\n'), {
      mountPoint: '/my cg',
      root: '/docker/ab',
    });
    assert.equal(parseCgroup2Mount(hybrid.split('\n')[1]!), null);
  });

  test('--cgroup resolves a directory or a mount-relative path, through ".", ".." and symlinks; the root is level 0', (t) => {
    const mount = { mountPoint: '/sys/fs/cgroup/unified', root: '/' };
    const resolve = (text: string) => resolveCgroupOption(text, '--cgroup', mount);
    const root = checkedValue(resolve('/'));
    assert.deepEqual(root, { id: statSync('/sys/fs/cgroup/unified').ino, level: 0, path: '/' });
    assert.deepEqual(checkedValue(resolve('/sys/fs/cgroup/unified/')), root);
    for (const text of ['/sys/fs/cgroup/unified/.', '/.', '/sys/fs/cgroup/unified/./', '//']) assert.deepEqual(checkedValue(resolve(text)), root, text);
    // A child cgroup, named every way: its level is 1 whatever the text.
    const child = `tcpstates-unit-${process.pid}`;
    mkdirSync(`/sys/fs/cgroup/unified/${child}`);
    t.after(() => rmdirSync(`/sys/fs/cgroup/unified/${child}`));
    const link = `${mkdtempSync(`${tmpdir()}/tcpstates-cgroup-`)}/link`;
    symlinkSync(`/sys/fs/cgroup/unified/${child}`, link);
    t.after(() => rmSync(dirname(link), { recursive: true }));
    const expected = { id: statSync(`/sys/fs/cgroup/unified/${child}`).ino, level: 1, path: `/${child}` };
    for (const text of [`/${child}`, `/${child}/.`, `/./${child}`, `/${child}/../${child}`, `/sys/fs/cgroup/unified/${child}/`, link, `${child}/`]) {
      assert.deepEqual(checkedValue(resolve(text)), expected, text);
    }
    const cwd = process.cwd();
    process.chdir(`/sys/fs/cgroup/unified/${child}`);
    try {
      assert.deepEqual(checkedValue(resolve('.')), expected);
      assert.deepEqual(checkedValue(resolve('..')), root);
    } finally {
      process.chdir(cwd);
    }
    assert.deepEqual(resolve('/no/such'), {
      ok: false,
      problem: { kind: 'usage', message: '--cgroup: "/no/such" is not a cgroup directory under /sys/fs/cgroup/unified (the cgroup2 mount)' },
    });
    assert.deepEqual(resolve('/sys/fs/cgroup/unified/..'), {
      ok: false,
      problem: {
        kind: 'usage',
        message: '--cgroup: "/sys/fs/cgroup/unified/.." is not a cgroup directory under /sys/fs/cgroup/unified (the cgroup2 mount): it resolves to a path outside it',
      },
    });
    const absent = resolveCgroupOption('/x', '--cgroup', null);
    assert.ok(!absent.ok && absent.problem.kind === 'environment');
    assert.throws(() => checkedValue(absent), (error: unknown) => error instanceof EnvironmentError && error.exitCode === 1 && error.message === '--cgroup: no cgroup2 file system is mounted (see /proc/self/mountinfo)');
    assert.throws(() => checkedValue(resolve('')), (error: unknown) => error instanceof UsageError && error.exitCode === 2);
  });

  test('cgroup ids to paths, unknown ids null, rescans at most once a second', () => {
    let now = 0;
    const paths = new CgroupPaths({ mountPoint: '/sys/fs/cgroup/unified', root: '/' }, () => now);
    assert.equal(paths.pathOf(statSync('/sys/fs/cgroup/unified').ino), '/');
    assert.equal(paths.pathOf(0), null);
    assert.equal(paths.pathOf(1234567), null);
    now = 500;
    assert.equal(paths.pathOf(1234567), null);
    assert.equal(new CgroupPaths(null).pathOf(1), null);
  });

  test('-N takes a network namespace file, or the inode number of a live one; the kernel says the type', () => {
    const own = statSync('/proc/self/ns/net').ino;
    assert.deepEqual(resolveNetnsOption(String(own), '-N/--netns'), { ok: true, value: own });
    assert.deepEqual(resolveNetnsOption('/proc/self/ns/net', '-N/--netns'), { ok: true, value: own });
    // A link to it elsewhere, with another name: the kernel's type decides.
    const dir = mkdtempSync(`${tmpdir()}/tcpstates-netns-`);
    try {
      symlinkSync('/proc/self/ns/uts', `${dir}/net`);
      symlinkSync('/proc/self/ns/net', `${dir}/uts`);
      assert.deepEqual(resolveNetnsOption(`${dir}/uts`, '-N/--netns'), { ok: true, value: own });
      assert.deepEqual(resolveNetnsOption(`${dir}/net`, '-N/--netns'), {
        ok: false,
        problem: { kind: 'usage', message: `-N/--netns: "${dir}/net" is a uts namespace, not a network namespace` },
      });
      // A FIFO: refused at once, not an open that waits for a writer.
      execFileSync('mkfifo', [`${dir}/fifo`]);
      assert.deepEqual(resolveNetnsOption(`${dir}/fifo`, '-N/--netns'), {
        ok: false,
        problem: { kind: 'usage', message: `-N/--netns: "${dir}/fifo" is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)` },
      });
    } finally {
      rmSync(dir, { recursive: true });
    }
    for (const [text, message] of [
      ['0', '-N/--netns: namespace inode "0" is out of range 1-4294967295'],
      [String(process.pid), `-N/--netns: no network namespace has inode ${process.pid} (none of /proc/*/ns/net or /run/netns/* that this user can see)`],
      ['/tmp', '-N/--netns: "/tmp" is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)'],
      ['/no/such', '-N/--netns: cannot open namespace "/no/such": ENOENT'],
      ['/proc/self/ns/mnt', '-N/--netns: "/proc/self/ns/mnt" is a mnt namespace, not a network namespace'],
      ['/proc/self/ns/uts', '-N/--netns: "/proc/self/ns/uts" is a uts namespace, not a network namespace'],
      ['/x\n\x1b[31m', '-N/--netns: cannot open namespace "/x\\n\\u001b[31m": ENOENT'],
    ] as const) {
      const checked = resolveNetnsOption(text, '-N/--netns');
      assert.ok(!checked.ok && checked.problem.kind === 'usage', text);
      assert.equal(checked.problem.message, message);
    }
  });

  test('JSON: netns, cgroup, and the error on CLOSE only (tcpstates) or always (tcplife)', () => {
    const paths = (id: number) => (id === 77 ? '/test.slice' : null);
    const refused = sampleEvent({ oldState: 2, newState: 7, skErr: ECONNREFUSED, cgroupId: 77, netnsIno: 4026532177 });
    const states = tcpstatesJson(refused, 0, paths);
    assert.equal(states.netns, 4026532177);
    assert.equal(states.cgroup, '/test.slice');
    assert.equal(states.error, 'ECONNREFUSED');
    assert.equal(tcpstatesJson({ ...refused, newState: 1 }, 0, paths).error, null);
    assert.equal(tcpstatesJson({ ...refused, cgroupId: 5 }, 0, paths).cgroup, null);
    assert.equal(tcplifeJson({ ...refused, skErr: ETIMEDOUT }, 0, paths).error, 'ETIMEDOUT');
    assert.equal(tcplifeJson({ ...refused, skErr: 0 }, 0, paths).error, null);
  });

  test('--container columns after the row (text and CSV)', () => {
    const out = new ByteOutput(64);
    out.text('ROW\n');
    appendContainerColumns(out, 4026531840, 77, (id) => (id === 77 ? '/a' : null), false);
    out.text('ROW\n');
    appendContainerColumns(out, 42, 5, () => null, false);
    out.text('A,B\n');
    appendContainerColumns(out, 42, 77, () => '/a', true);
    const docker = `/system.slice/docker-${'0123456789abcdef'.repeat(4)}.scope`;
    out.text('ROW\n');
    appendContainerColumns(out, 42, 9, () => docker, false);
    out.text('A,B\n');
    appendContainerColumns(out, 42, 9, () => docker, true);
    assert.equal(
      out.toString(),
      'ROW 4026531840 -            /a\nROW 42         -            -\nA,B,42,-,/a\n' +
        `ROW 42         0123456789ab ${docker}\nA,B,42,${'0123456789abcdef'.repeat(4)},${docker}\n`,
    );
    // A cgroup name is anyone's with a delegated subtree.
    const hostile = '/user.slice/x\x1b]0;T\x07\x1b[2J,extra,"csv"';
    const rows = new ByteOutput(64);
    rows.text('ROW\n');
    appendContainerColumns(rows, 42, 9, () => hostile, false);
    rows.text('A,B\n');
    appendContainerColumns(rows, 42, 9, () => hostile, true);
    assert.equal(
      rows.toString(),
      'ROW 42         -            /user.slice/x?]0;T??[2J,extra,"csv"\n' + 'A,B,42,-,"/user.slice/x?]0;T??[2J,extra,""csv"""\n',
    );
    assert.equal(containerHeader('H', false), 'H NETNS      CONTAINER    CGROUP');
    assert.equal(containerHeader('A,B', true), 'A,B,NETNS,CONTAINER,CGROUP');
  });
});

describe('the options on the command line', () => {
  test('resolved into the kernel config', () => {
    const parsed = parseTcplifeArgs(['--metrics', '[::1]:0', '-N', '/proc/self/ns/net', '--cgroup', '/']);
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.deepEqual(parsed.options.fleet.metrics, { host: '::1', port: 0 });
    assert.equal(parsed.options.trace.netnsIno, statSync('/proc/self/ns/net').ino);
    assert.deepEqual(parsed.options.trace.cgroup, { id: statSync(findCgroup2Mount()!.mountPoint).ino, level: 0 });
    const plain = parseTcpstatesArgs([]);
    // --metrics alone: each tool's own default port, on loopback.
    for (const [parse, port] of [[parseTcpstatesArgs, DEFAULT_METRICS_PORTS.tcpstates], [parseTcplifeArgs, DEFAULT_METRICS_PORTS.tcplife]] as const) {
      const bare = parse(['--metrics', '-L', '80']);
      assert.ok(bare.kind === 'run');
      assert.deepEqual(bare.options.fleet.metrics, { host: '127.0.0.1', port });
      assert.deepEqual(bare.options.trace.localPorts, [80]);
    }
    assert.ok(plain.kind === 'run' && plain.options.trace.netnsIno === null && plain.options.trace.cgroup === null && plain.options.fleet.metrics === null);
  });

  for (const [argv, message] of [
    [['--metrics', '9100', '-w'], "option '--metrics [[host:]port]' cannot be used with option '-w, --wide'"],
    [['--metrics', '9100', '-s'], "option '--metrics [[host:]port]' cannot be used with option '-s, --csv'"],
    [['--metrics', '0', '--container'], "option '--metrics [[host:]port]' cannot be used with option '--container'"],
    [['--container', '--json'], "option '--container' cannot be used with option '--json'"],
    [['-N', 'abc'], '-N/--netns: cannot open namespace "abc": ENOENT'],
    [['--cgroup', ''], '--cgroup: empty cgroup path'],
  ] as const) {
    test(`tcpstates ${argv.join(' ')}: ${message}`, () => {
      assert.throws(() => parseTcpstatesArgs(argv), (error: unknown) => error instanceof UsageError && error.message === message);
    });
  }
});
