// `bosun certs renew` end to end without a cluster: the CLI on files (--no-restart), and the full
// flow with the restart phase on hand-written fakes of the kubelet and the API, whose "static
// pods" are real TLS servers on 127.0.0.1 that load the files on disk when they restart. The
// same scenario on a real sandbox (etcd, kube-apiserver, kubelets) is in certs-sandbox.test.ts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import type { CliContext } from '../src/cli/context.ts';
import { isBosunError } from '../src/common/errors.ts';
import type { Clock, Output } from '../src/common/ports.ts';
import { processExec } from '../src/common/real.ts';
import { FakeClock } from '../src/common/fake-clock.ts';
import { generateClusterCas, makeRestartPhase, writeControlPlanePki } from '../src/certs/index.ts';
import { printEvents, renewAndReport } from '../src/cli/commands/certs-output.ts';
import { writeTestControlPlane } from '../src/certs/testing/node.ts';
import type { RestartPhase, ServedKube, StaticPodsKube } from '../src/certs/index.ts';
import { nodeTlsProbe } from '../src/certs/tls-probe.ts';

const DAY = 86_400_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function makeNode(root: string): Promise<void> {
  const cas = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
  await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
    nodeName: 'cp-1',
    advertiseAddress: '127.0.0.1',
    controlPlaneEndpoint: '127.0.0.1:6443',
    now: NOW,
    keyAlgorithm: 'ecdsa-p256',
    notAfterOverrides: {
      apiserver: new Date(NOW.getTime() + 2 * DAY),
      'etcd-server': new Date(NOW.getTime() + 2 * DAY),
    },
  });
  await mkdir(join(root, 'etc/kubernetes/manifests'), { recursive: true });
  for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) {
    await writeFile(join(root, 'etc/kubernetes/manifests', `${c}.yaml`), `# ${c}\n`);
  }
}

function capture(): Output & { lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { out: (l) => lines.push(l), err: (l) => errs.push(l), isTTY: false, lines, errs };
}

describe('bosun certs renew (CLI, files only)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-renew-cli-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function bosun(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    return bosunAt(argv, NOW);
  }

  async function bosunAt(argv: string[], now: Date): Promise<{ code: number; out: string[]; err: string[] }> {
    const o = capture();
    const ctx: CliContext = {
      out: o,
      env: {},
      cwd: dir,
      clock: new FakeClock(now),
      exec: processExec,
      signal: new AbortController().signal,
      self: { execPath: process.execPath, args: [] },
      home: dir,
    };
    const code = await runCli(argv, ctx);
    return { code, out: o.lines, err: o.errs };
  }

  test('renew apiserver etcd-server --no-restart: exit 0, one line each, the backup dir, which pods to restart', async () => {
    const root = join(dir, 'a');
    await makeNode(root);
    const r = await bosun([
      'certs',
      'renew',
      'apiserver',
      'etcd-server',
      '--root',
      root,
      '--no-restart',
      '--backup-dir',
      'backups',
    ]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    const expires = new Date(NOW.getTime() + 365 * DAY);
    const month = expires.toUTCString().slice(8, 11);
    assert.match(
      r.out[0] ?? '',
      new RegExp(
        `^apiserver renewed \\(expires ${month} \\d{2}, ${expires.getUTCFullYear()} \\d{2}:\\d{2} UTC\\)$`,
      ),
    );
    assert.match(r.out[1] ?? '', /^etcd-server renewed/);
    assert.match(
      r.out[2] ?? '',
      new RegExp(`^previous files saved in ${join(dir, 'backups')}/bosun-certs-backup-`),
    );
    assert.equal(
      r.out[3],
      'Done renewing certificates. You must restart the kube-apiserver and etcd, so that they can use the new certificates.',
    );
    const check = await bosun(['certs', 'check', '--root', root]);
    assert.equal(check.code, 0, check.err.join('\n'));
  });

  test('refusal without the CA key: exit 1, one line, nothing changed', async () => {
    const root = join(dir, 'b');
    await makeNode(root);
    await rm(join(root, 'etc/kubernetes/pki/etcd/ca.key'));
    const beforeServer = await readFile(join(root, 'etc/kubernetes/pki/etcd/server.crt'), 'utf8');
    const r = await bosun(['certs', 'renew', 'all', '--root', root, '--no-restart']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    assert.match(
      r.err[0] ?? '',
      /^error: cannot renew 4 certificates: apiserver-etcd-client: the CA key .*\/pki\/etcd\/ca\.key is absent \(external CA\): sign the renewal with that CA instead; etcd-healthcheck-client: /,
    );
    assert.equal(r.err[1], 'Nothing was changed. Renew the others by name, or fix what is named above.');
    assert.equal(r.err.length, 2);
    assert.equal(await readFile(join(root, 'etc/kubernetes/pki/etcd/server.crt'), 'utf8'), beforeServer);
    assert.equal(existsSync(join(root, 'etc/kubernetes/tmp')), false);
  });

  test('a CA that expired in 2020: refused (exit 1), nothing changed, and how to renew the CA', async () => {
    // issue 18: this renewed apiserver (valid until 2027) into a certificate that expired in 2020.
    const root = join(dir, 'old-ca');
    await writeTestControlPlane(root, {
      now: new Date(Date.UTC(2010, 0, 1)),
      notAfterOverrides: { apiserver: new Date(Date.UTC(2027, 0, 1)) },
    });
    const crt = join(root, 'etc/kubernetes/pki/apiserver.crt');
    const before = await readFile(crt, 'utf8');
    const r = await bosun(['certs', 'renew', 'apiserver', '--root', root, '--no-restart']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    assert.deepEqual(r.err, [
      `error: cannot renew apiserver: its CA ca (${join(root, 'etc/kubernetes/pki/ca.crt')}) expired on Dec 30, 2019 00:00 UTC; what it signs now is expired from the start`,
      'Nothing was changed. A CA is not renewed in place: rotate it (kubeadm\'s guide "Manual rotation of CA certificates", https://kubernetes.io/docs/tasks/tls/manual-rotation-of-ca-certificates/), then renew the certificates it signs.',
    ]);
    assert.equal(await readFile(crt, 'utf8'), before);
    assert.equal(existsSync(join(root, 'etc/kubernetes/tmp')), false, 'no backup directory');
  });

  test('a CA that expires within a day: refused too; within a week: renewed up to it, with a warning', async () => {
    const root = join(dir, 'ca-soon');
    // Its CAs, ten years old, expire in twelve hours.
    await writeTestControlPlane(root, { now: new Date(NOW.getTime() - 3650 * DAY + 12 * 3_600_000) });
    const soon = await bosun(['certs', 'renew', 'front-proxy-client', '--root', root, '--no-restart']);
    assert.equal(soon.code, 1);
    assert.match(
      soon.err[0] ?? '',
      /^error: cannot renew front-proxy-client: its CA front-proxy-ca \(.*\/pki\/front-proxy-ca\.crt\) expires on .* UTC, in 12h: the renewed certificate would live less than a day$/,
    );
    assert.match(soon.err[1] ?? '', /^Nothing was changed\. A CA is not renewed in place: rotate it/);

    const later = await bosunAt(
      ['certs', 'renew', 'front-proxy-client', '--root', root, '--no-restart'],
      new Date(NOW.getTime() - 5 * DAY),
    );
    assert.equal(later.code, 0, later.err.join('\n'));
    assert.deepEqual(later.err, [
      'WARNING: front-proxy-client expires with its CA, before the requested validity; renew the CA in time',
    ]);
  });

  test('bad names and values are usage errors (exit 2)', async () => {
    const root = join(dir, 'c');
    for (const argv of [
      ['certs', 'renew', 'ca', '--root', root],
      ['certs', 'renew', 'kubelet.conf', '--root', root],
      ['certs', 'renew', 'all', '--validity', 'forever', '--root', root],
    ]) {
      const r = await bosun(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.equal(r.err.length, 2);
      assert.match(r.err[0] ?? '', /^error: /);
    }
  });
});

/** A clock whose sleeps return at once, moving time on. */
class SteppingClock implements Clock {
  t = NOW.getTime();
  now(): Date {
    return new Date(this.t);
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
    await Promise.resolve();
  }
}

describe('bosun certs renew with the restart phase (fake kubelet, real TLS servers)', () => {
  let dir = '';
  let root = '';
  const servers = new Map<string, tls.Server>();
  const ports = new Map<string, number>();

  const files: Record<string, [string, string]> = {
    'kube-apiserver': ['pki/apiserver.crt', 'pki/apiserver.key'],
    'etcd-client': ['pki/etcd/server.crt', 'pki/etcd/server.key'],
    'etcd-peer': ['pki/etcd/peer.crt', 'pki/etcd/peer.key'],
  };

  async function load(name: string): Promise<tls.SecureContextOptions> {
    const [c, k] = files[name] ?? ['', ''];
    return {
      cert: await readFile(join(root, 'etc/kubernetes', c)),
      key: await readFile(join(root, 'etc/kubernetes', k)),
    };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-renew-restart-'));
    root = join(dir, 'host');
    await makeNode(root);
    for (const name of Object.keys(files)) {
      const srv = tls.createServer(await load(name));
      srv.on('secureConnection', (s: tls.TLSSocket) => s.end());
      srv.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const a = srv.address();
      servers.set(name, srv);
      ports.set(name, typeof a === 'object' && a ? a.port : 0);
    }
  });
  after(async () => {
    for (const s of servers.values()) s.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The kubelet and API: mirror pods follow the manifests; a pod that comes back reloads its files (unless stuck). */
  function fakeCluster(stuck: Set<string>): StaticPodsKube & ServedKube {
    const manifests = join(root, 'etc/kubernetes/manifests');
    const gone = new Set<string>();
    return {
      async getMirrorPod(name) {
        const component = name.replace(/-cp-1$/, '');
        if (!existsSync(join(manifests, `${component}.yaml`))) {
          gone.add(component);
          return null;
        }
        if (gone.delete(component)) {
          const served =
            component === 'etcd'
              ? ['etcd-client', 'etcd-peer']
              : component === 'kube-apiserver'
                ? ['kube-apiserver']
                : [];
          for (const s of served) if (!stuck.has(s)) servers.get(s)?.setSecureContext(await load(s));
        }
        return { uid: `${component}-uid`, ready: true };
      },
      listEtcdPods: () => Promise.resolve([{ name: 'etcd-cp-1', ready: true }]),
      listNodes: () => Promise.resolve([{ name: 'cp-1', internalIP: '127.0.0.1', kubeletPort: 1 }]),
      getPodCommand: (name) =>
        Promise.resolve(
          name === 'kube-apiserver-cp-1'
            ? ['kube-apiserver', `--secure-port=${ports.get('kube-apiserver')}`]
            : name === 'etcd-cp-1'
              ? [
                  'etcd',
                  `--listen-client-urls=https://127.0.0.1:${ports.get('etcd-client')}`,
                  `--listen-peer-urls=https://127.0.0.1:${ports.get('etcd-peer')}`,
                ]
              : null,
        ),
    };
  }

  /** The restart phase on a fake cluster whose kube-apiserver is always ready. */
  const phaseOn = (kube: StaticPodsKube & ServedKube, clock: Clock, out: Output): RestartPhase =>
    makeRestartPhase({
      ports: () => ({ kube, tls: nodeTlsProbe(), health: { readyz: () => Promise.resolve(200) } }),
      clock,
      onEvent: printEvents(out),
      timeoutMs: 60_000,
    });

  test('renew all: files renewed, static pods restarted etcd last, the new certificates served', async () => {
    const out = capture();
    const clock = new SteppingClock();
    const kube = fakeCluster(new Set());
    const restart = phaseOn(kube, clock, out);
    const result = await renewAndReport(
      { names: ['all'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
      { clock, out, restart },
    );
    assert.equal(result.result.renewed.length, 11);
    const order = out.errs
      .filter((l) => l.endsWith(': Ready'))
      .map((l) => l.replace(/^\[restart\] (.*)-cp-1: Ready$/, '$1'));
    assert.deepEqual(order, ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']);
    const table = out.lines.filter((l) => l.startsWith('cp-1'));
    assert.deepEqual(
      table.map((l) => l.split(/ {3,}/).filter((c) => c !== '')).map((c) => [c[1], c[5], c[6]]),
      [
        ['kube-apiserver', 'yes', 'ok'],
        ['etcd-client', 'yes', 'ok'],
        ['etcd-peer', 'yes', 'ok'],
      ],
    );
    assert.equal(
      out.lines.at(-1),
      'Certificates renewed and served on cp-1. Renew the next control plane only after this one is healthy (bosun certs check --served).',
    );
    assert.deepEqual((await readdir(join(root, 'etc/kubernetes/manifests'))).sort(), [
      'etcd.yaml',
      'kube-apiserver.yaml',
      'kube-controller-manager.yaml',
      'kube-scheduler.yaml',
    ]);
  });

  test('after the restart bosun waits while the API errors and kube-apiserver is not ready, then verifies', async () => {
    const out = capture();
    const clock = new SteppingClock();
    const base = fakeCluster(new Set());
    let listCalls = 0;
    const kube: StaticPodsKube & ServedKube = {
      ...base,
      // The first answers after etcd's restart: the API cannot reach its storage yet.
      listNodes: () =>
        ++listCalls <= 2 ? Promise.reject(new Error('etcd is unavailable')) : base.listNodes(),
    };
    const statuses = [500, 500, 200];
    const probed: string[] = [];
    const restart = makeRestartPhase({
      ports: () => ({
        kube,
        tls: nodeTlsProbe(),
        health: {
          readyz: (t) => {
            probed.push(`${t.host}:${t.port}`);
            return Promise.resolve(statuses.shift() ?? 200);
          },
        },
      }),
      clock,
      onEvent: printEvents(out),
      timeoutMs: 60_000,
    });
    await renewAndReport(
      { names: ['etcd-server'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
      { clock, out, restart },
    );
    assert.deepEqual(
      out.errs.filter((l) => l.startsWith('[restart] waiting')),
      ['[restart] waiting for the API to answer', '[restart] waiting for kube-apiserver on cp-1 to be ready'],
    );
    assert.deepEqual(probed, Array(3).fill(`127.0.0.1:${ports.get('kube-apiserver')}`));
    assert.match(out.lines.at(-1) ?? '', /^Certificates renewed and served on cp-1\./);
  });

  test('a kube-apiserver that never gets ready after the restart: a timeout naming it (exit 1)', async () => {
    const out = capture();
    const clock = new SteppingClock();
    const restart = makeRestartPhase({
      ports: () => ({
        kube: fakeCluster(new Set()),
        tls: nodeTlsProbe(),
        health: { readyz: () => Promise.resolve(500) },
      }),
      clock,
      onEvent: printEvents(out),
      timeoutMs: 60_000,
    });
    await assert.rejects(
      renewAndReport(
        { names: ['apiserver'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
        { clock, out, restart },
      ),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(e.exitCode, 1);
        assert.equal(
          e.message,
          'restarted, but timed out after 60s waiting for kube-apiserver on cp-1 to be ready (/readyz: 500)',
        );
        return true;
      },
    );
  });

  test('etcd without quorum: refused before any file changes; an API that cannot answer only warns', async () => {
    const before = await readFile(join(root, 'etc/kubernetes/pki/etcd/server.crt'), 'utf8');
    const refuse = (listEtcdPods: StaticPodsKube['listEtcdPods']) => {
      const out = capture();
      const clock = new SteppingClock();
      const restart = makeRestartPhase({
        ports: () => ({
          kube: { ...fakeCluster(new Set()), listEtcdPods },
          tls: nodeTlsProbe(),
          health: { readyz: () => Promise.resolve(200) },
        }),
        clock,
        onEvent: printEvents(out),
        timeoutMs: 60_000,
      });
      return {
        out,
        run: renewAndReport(
          { names: ['etcd-peer'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
          { clock, out, restart },
        ),
      };
    };
    const lost = refuse(() =>
      Promise.resolve([
        { name: 'etcd-cp-1', ready: true },
        { name: 'etcd-cp-2', ready: false },
        { name: 'etcd-cp-3', ready: true },
        { name: 'etcd-cp-4', ready: false },
        { name: 'etcd-cp-5', ready: true },
      ]),
    );
    await assert.rejects(lost.run, (e: unknown) => {
      assert.ok(isBosunError(e));
      assert.equal(
        e.message,
        'not renewing: only 2 of the other 4 etcd members are Ready; restarting etcd-cp-1 would lose quorum (3 of 5 needed)',
      );
      assert.match(e.hint ?? '', /^Nothing was changed\./);
      return true;
    });
    assert.deepEqual(lost.out.lines, []);
    assert.equal(await readFile(join(root, 'etc/kubernetes/pki/etcd/server.crt'), 'utf8'), before);

    // The in-restart check still guards etcd; here the single fake member is Ready afterwards.
    let calls = 0;
    const unknown = refuse(() =>
      ++calls === 1
        ? Promise.reject(new Error('x509: certificate has expired'))
        : Promise.resolve([{ name: 'etcd-cp-1', ready: true }]),
    );
    await unknown.run;
    assert.ok(
      unknown.out.errs.includes(
        "WARNING: cannot check etcd's quorum before renewing (x509: certificate has expired); it is checked again before etcd restarts",
      ),
      unknown.out.errs.join('\n'),
    );
  });

  test('a manifest an interrupted restart left out is put back, and its pod Ready again, before anything is renewed', async () => {
    // issue 18: the rerun renewed first and left kube-apiserver.yaml out of manifests/.
    const etcK = join(root, 'etc/kubernetes');
    await mkdir(join(etcK, 'tmp/bosun-restart'), { recursive: true });
    await rename(
      join(etcK, 'manifests/kube-apiserver.yaml'),
      join(etcK, 'tmp/bosun-restart/kube-apiserver.yaml'),
    );
    const log: string[] = [];
    const out = {
      out: (l: string) => log.push(`out: ${l}`),
      err: (l: string) => log.push(`err: ${l}`),
      isTTY: false,
    };
    const clock = new SteppingClock();
    const kube = fakeCluster(new Set());
    const restart = phaseOn(kube, clock, out);
    await renewAndReport(
      { names: ['front-proxy-client'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
      { clock, out, restart },
    );
    const moved = log.indexOf(
      `err: [recover] moved kube-apiserver.yaml back into ${join(etcK, 'manifests')}: an interrupted restart left it in ${join(etcK, 'tmp/bosun-restart')}`,
    );
    const ready = log.indexOf('err: [restart] kube-apiserver-cp-1: Ready');
    const renewed = log.findIndex((l) => l.startsWith('out: front-proxy-client renewed'));
    assert.ok(moved >= 0 && moved < ready && ready < renewed, log.join('\n'));
    assert.ok(existsSync(join(etcK, 'manifests/kube-apiserver.yaml')));
    assert.equal(existsSync(join(etcK, 'tmp/bosun-restart/kube-apiserver.yaml')), false);
  });

  test('a kube-apiserver that comes back with its old certificate: the renewal says so (exit 1)', async () => {
    const out = capture();
    const clock = new SteppingClock();
    const kube = fakeCluster(new Set(['kube-apiserver']));
    const restart = phaseOn(kube, clock, out);
    await assert.rejects(
      renewAndReport(
        { names: ['apiserver'], root, validityMs: 365 * DAY, restart: true, cwd: '/' },
        { clock, out, restart },
      ),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(e.exitCode, 1);
        assert.equal(
          e.message,
          `restarted, but kube-apiserver (127.0.0.1:${ports.get('kube-apiserver')}) still serves the old certificate on cp-1`,
        );
        return true;
      },
    );
  });

  test('kube-apiserver not a static pod: renewed, not restarted, and the renewal says so instead of "served" (exit 1)', async () => {
    // issue 18: this exited 0 with "renewed and served" and an empty table.
    const node = join(dir, 'no-static-apiserver');
    await makeNode(node);
    await rm(join(node, 'etc/kubernetes/manifests/kube-apiserver.yaml'));
    const manifests = join(node, 'etc/kubernetes/manifests');
    const out = capture();
    const clock = new SteppingClock();
    const kube: StaticPodsKube & ServedKube = {
      getMirrorPod: (name) =>
        Promise.resolve(
          existsSync(join(manifests, `${name.replace(/-cp-1$/, '')}.yaml`))
            ? { uid: name, ready: true }
            : null,
        ),
      listEtcdPods: () => Promise.resolve([{ name: 'etcd-cp-1', ready: true }]),
      listNodes: () =>
        Promise.resolve([{ name: 'cp-1', internalIP: '127.0.0.1', kubeletPort: 1, controlPlane: true }]),
      getPodCommand: () => Promise.resolve(null),
    };
    const restart = phaseOn(kube, clock, out);
    await assert.rejects(
      renewAndReport(
        {
          names: ['apiserver', 'controller-manager.conf'],
          root: node,
          validityMs: 365 * DAY,
          restart: true,
          cwd: '/',
        },
        { clock, out, restart },
      ),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(e.exitCode, 1);
        assert.equal(
          e.message,
          `renewed, but not restarted on cp-1: kube-apiserver (${join(manifests, 'kube-apiserver.yaml')} does not exist: it does not run as a static pod on this node)`,
        );
        assert.equal(
          e.hint,
          'The new files are on disk and the old ones are in the backup directory. Restart kube-apiserver the way it runs on this node so that it reads them, then run `bosun certs check --served`.',
        );
        return true;
      },
    );
    assert.ok(out.errs.includes('[restart] kube-controller-manager-cp-1: Ready'), out.errs.join('\n'));
    assert.ok(!out.lines.some((l) => /renewed and served/.test(l)), out.lines.join('\n'));
    assert.ok(!out.lines.some((l) => l.startsWith('NODE ')), 'no empty served table');
  });
});
