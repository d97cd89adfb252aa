// Silent servers (issue 18): `bosun backup --endpoints` against a server that accepts and never
// answers, one that starts TLS and never finishes it, one that answers a byte at a time forever
// (which no idle timeout notices), and a real etcd whose snapshot stream stops mid-way. Each run
// must return within its deadline (--dial-timeout to reach an endpoint, --command-timeout for the
// stream) plus SLACK_MS, with one line that names the server, and leave nothing in --dir. The
// test bounds its own wait, so a hang fails it instead of hanging it. (`backup status`, `verify`
// and `list` read files only; the trial restore talks to an etcd it starts itself.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateClusterCas, writeControlPlanePki } from '../src/certs/pki-gen.ts';
import { runCli } from '../src/cli/program.ts';
import { captureCtx, fill, startTestEtcd, type TestEtcd } from './support/etcd-backup.ts';

/**
 * What a run may take beyond its deadline: its own end on a loaded 2-core machine, but less than
 * the 2 s deadline again (a second deadline after the first is the regression this guards against).
 */
const SLACK_MS = 1_800;
const BOUND_MS = 2_000 + SLACK_MS;

let work: string;
let etcd: TestEtcd;
/** A kubeadm-layout PKI, so that https endpoints get as far as connecting. */
let pkiDir: string;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** A TCP server on a free loopback port; `onConn` decides what it does with each connection. */
async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConn(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
}

let silent: number;
let tlsStuck: number;
let trickle: number;
/** Answers GET /health like a healthy etcd, and never answers gRPC (HTTP/2). */
let healthOnly: number;
/** A proxy to the test etcd that stops passing etcd's bytes on after 1 MiB on one connection. */
let stalling: number;
let stalledAt: number | null = null;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bosun-silent-'));
  etcd = await startTestEtcd({ tls: false });
  const now = new Date();
  const cas = await generateClusterCas({ now, keyAlgorithm: 'ecdsa-p256' });
  await writeControlPlanePki(join(work, 'etc'), join(work, 'kubelet-pki'), cas, {
    nodeName: 'cp-1',
    advertiseAddress: '127.0.0.1',
    controlPlaneEndpoint: '127.0.0.1:6443',
    now,
    keyAlgorithm: 'ecdsa-p256',
  });
  pkiDir = join(work, 'etc', 'pki');
  // Load what bosun backup loads lazily, so that the bounded runs measure bosun, not module loading.
  await import('../src/etcd/index.ts');
  await import('../src/etcd/etcd-client.ts');
  await fill(etcd.client, '/registry/configmaps/big/cm-', 600, 10_000);
  silent = await listen((s) => s.resume());
  // The first bytes of a TLS handshake record (type 22, TLS 1.2, 64 bytes long), and then nothing.
  tlsStuck = await listen((s) => {
    s.resume();
    s.once('data', () => s.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40, 0x02])));
  });
  // An HTTP answer that never ends: a header line that grows by one byte every 100 ms.
  trickle = await listen((s) => {
    s.resume();
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      const iv = setInterval(() => s.write('x'), 100);
      s.on('close', () => clearInterval(iv));
    });
  });
  healthOnly = await listen((s) => {
    s.once('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('GET /health'))
        s.end(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"health":"true"}',
        );
      else s.resume();
    });
  });
  const target = Number(new URL(etcd.endpoint).port);
  stalling = await listen((client) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
    client.pipe(up);
    let passed = 0;
    up.on('data', (d: Buffer) => {
      if (passed >= 1 << 20) {
        stalledAt ??= Date.now();
        return;
      }
      passed += d.length;
      client.write(d);
    });
  });
});

after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await etcd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs `bosun ARGS` in-process; fails the test when it has not returned within `boundMs`. */
async function bounded(
  args: string[],
  boundMs: number,
): Promise<{ code: number; out: string[]; err: string[]; ms: number }> {
  const c = captureCtx({ cwd: work });
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `bosun ${args.join(' ')} did not return within ${boundMs} ms; stderr: ${c.err.join(' | ')}`,
          ),
        ),
      boundMs,
    );
  });
  try {
    const code = await Promise.race([runCli(args, c.ctx), late]);
    return { code, out: c.out, err: c.err, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function dirEmpty(dir: string): void {
  assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], `nothing left in ${dir}`);
}

for (const tc of [
  { name: 'accepts and never answers (http)', url: () => `http://127.0.0.1:${silent}` },
  {
    name: 'accepts and never answers (https: the TLS handshake never starts)',
    url: () => `https://127.0.0.1:${silent}`,
  },
  { name: 'starts TLS and never finishes it', url: () => `https://127.0.0.1:${tlsStuck}` },
  { name: 'answers a byte at a time, forever', url: () => `http://127.0.0.1:${trickle}` },
]) {
  test(`a server that ${tc.name}: bosun backup returns within --dial-timeout plus under 2 s, naming it`, async () => {
    const url = tc.url();
    const dir = join(work, `dir-${servers.length}-${tc.name.length}`);
    const r = await bounded(
      ['backup', '--endpoints', url, '--pki-dir', pkiDir, '--dial-timeout', '2s', '--dir', dir],
      BOUND_MS,
    );
    assert.equal(r.code, 1, r.err.join('\n'));
    assert.equal(r.err[0], `error: etcd endpoint ${url} did not answer within 2000 ms`);
    dirEmpty(dir);
  });
}

test('a server that answers /health and never answers gRPC: bosun backup returns within --dial-timeout plus under 2 s, naming it', async () => {
  const url = `http://127.0.0.1:${healthOnly}`;
  const dir = join(work, 'health-only');
  const r = await bounded(['backup', '--endpoints', url, '--dial-timeout', '2s', '--dir', dir], BOUND_MS);
  assert.equal(r.code, 1, r.err.join('\n'));
  assert.equal(r.err[0], `error: etcd endpoint ${url} did not answer Maintenance.Status within 2000 ms`);
  dirEmpty(dir);
});

test('two silent endpoints are tried at the same time: still within the dial timeout plus under 2 s, naming both', async () => {
  const a = `http://127.0.0.1:${silent}`;
  const b = `http://127.0.0.1:${trickle}`;
  const r = await bounded(
    ['backup', '--endpoints', `${a},${b}`, '--dial-timeout', '2s', '--dir', join(work, 'two')],
    BOUND_MS,
  );
  assert.equal(r.code, 1);
  assert.equal(
    r.err[0],
    `error: no usable etcd member: etcd endpoint ${a} did not answer within 2000 ms; etcd endpoint ${b} did not answer within 2000 ms`,
  );
});

test('an etcd whose snapshot stream stops mid-way: bosun backup fails within --command-timeout plus under 2 s of the stall, naming it', async () => {
  const url = `http://127.0.0.1:${stalling}`;
  const dir = join(work, 'stall');
  const c = captureCtx({ cwd: work });
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    const check = (): void => {
      if (stalledAt !== null && Date.now() - stalledAt > BOUND_MS)
        reject(
          new Error(`bosun backup still runs ${BOUND_MS} ms after the stream stalled; stderr: ${c.err.join(' | ')}`),
        );
      else timer = setTimeout(check, 50);
    };
    check();
  });
  try {
    const code = await Promise.race([
      runCli(['backup', '--endpoints', url, '--command-timeout', '2s', '--dir', dir], c.ctx),
      watchdog,
    ]);
    assert.notEqual(stalledAt, null, 'the proxy stalled the stream');
    assert.equal(code, 1, c.err.join('\n'));
    assert.match(
      c.err.find((l) => l.startsWith('error: ')) ?? '',
      new RegExp(
        `^error: etcd at ${url.replace(/\./g, '\\.')} stopped sending the snapshot: nothing for 2000 ms after \\d+(\\.\\d)? [KM]iB$`,
      ),
    );
  } finally {
    clearTimeout(timer);
  }
  dirEmpty(dir);
});
