// Test support for the backup tests: a real etcd (Debian's binary, through src/etcd/member.ts) on
// free loopback ports, with TLS from the kubeadm-layout PKI generator (src/certs/pki-gen.ts) when
// asked; a second, unrelated CA and an expired client certificate for the TLS error paths; a way to
// fill etcd with data; and a CliContext that captures stdout and stderr for runCli.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { generateClusterCas, writeControlPlanePki } from '../../src/certs/pki-gen.ts';
import { freePorts } from '../../src/common/net.ts';
import type { Clock } from '../../src/common/ports.ts';
import { processExec, systemClock } from '../../src/common/real.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { etcdArgs, startEtcd, type EtcdProcess } from '../../src/etcd/member.ts';

const DAY = 86_400_000;

/** A running etcd for a test file, with the files a client needs. */
export interface TestEtcd {
  endpoint: string;
  dir: string;
  /** kubeadm's pki dir (etcd/ca.crt, etcd/server.crt, ...) when TLS; null for plain http. */
  pkiDir: string | null;
  /** An etcd CA that did not sign anything etcd uses, and a client cert+key it signed. */
  otherCa: { cacert: string; cert: string; key: string } | null;
  /** A client certificate signed by the right CA that expired yesterday. */
  expired: { cert: string; key: string } | null;
  proc: EtcdProcess;
  client: Etcd3;
  stop(): Promise<void>;
}

/** Starts etcd on free loopback ports; TLS with a kubeadm-layout PKI unless `tls` is false. */
export async function startTestEtcd(opts: { tls: boolean; quotaBytes?: number }): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-backup-test-'));
  try {
    const [clientPort, peerPort] = await freePorts(2);
    if (clientPort === undefined || peerPort === undefined) throw new Error('no ports');
    let pkiDir: string | null = null;
    let otherCa: TestEtcd['otherCa'] = null;
    let expired: TestEtcd['expired'] = null;
    const now = new Date();
    if (opts.tls) {
      // CAs from ten days ago, so a leaf can have expired yesterday and still postdate its CA.
      const caTime = new Date(now.getTime() - 10 * DAY);
      const cas = await generateClusterCas({ now: caTime, keyAlgorithm: 'ecdsa-p256' });
      const node = {
        nodeName: 'cp-1',
        advertiseAddress: '127.0.0.1',
        controlPlaneEndpoint: '127.0.0.1:6443',
        now,
        keyAlgorithm: 'ecdsa-p256' as const,
      };
      const etcK = join(dir, 'etc-kubernetes');
      await writeControlPlanePki(etcK, join(dir, 'kubelet-pki'), cas, node);
      pkiDir = join(etcK, 'pki');
      const expiredDir = join(dir, 'expired');
      await writeControlPlanePki(expiredDir, join(dir, 'kubelet-pki-2'), cas, {
        ...node,
        notAfterOverrides: { 'etcd-healthcheck-client': new Date(now.getTime() - DAY) },
      });
      expired = {
        cert: join(expiredDir, 'pki/etcd/healthcheck-client.crt'),
        key: join(expiredDir, 'pki/etcd/healthcheck-client.key'),
      };
      const other = await generateClusterCas({ now: caTime, keyAlgorithm: 'ecdsa-p256' });
      const otherDir = join(dir, 'other');
      await writeControlPlanePki(otherDir, join(dir, 'kubelet-pki-3'), other, node);
      otherCa = {
        cacert: join(otherDir, 'pki/etcd/ca.crt'),
        cert: join(otherDir, 'pki/etcd/server.crt'),
        key: join(otherDir, 'pki/etcd/server.key'),
      };
    }
    const e = (f: string): string => join(pkiDir ?? '', 'etcd', f);
    const tls = pkiDir
      ? {
          certFile: e('server.crt'),
          keyFile: e('server.key'),
          trustedCaFile: e('ca.crt'),
          peerCertFile: e('peer.crt'),
          peerKeyFile: e('peer.key'),
          peerTrustedCaFile: e('ca.crt'),
        }
      : undefined;
    const spec = {
      name: 'cp-1',
      dataDir: join(dir, 'data'),
      clientPort,
      peerPort,
      tls,
      quotaBackendBytes: opts.quotaBytes,
    };
    const scheme = tls ? 'https' : 'http';
    const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
    const proc = await startEtcd({
      args: etcdArgs(spec),
      clientUrl: endpoint,
      clientTls: pkiDir
        ? { caFile: e('ca.crt'), certFile: e('healthcheck-client.crt'), keyFile: e('healthcheck-client.key') }
        : undefined,
      logFile: join(dir, 'etcd.log'),
    });
    const { readFileSync } = await import('node:fs');
    const client = new Etcd3({
      hosts: [endpoint],
      credentials: pkiDir
        ? {
            rootCertificate: readFileSync(e('ca.crt')),
            certChain: readFileSync(e('server.crt')),
            privateKey: readFileSync(e('server.key')),
          }
        : undefined,
      // The server certificate names localhost: no IP as TLS server name (Node's DEP0123).
      ...(pkiDir
        ? {
            grpcOptions: {
              'grpc.ssl_target_name_override': 'localhost',
              'grpc.default_authority': 'localhost',
            },
          }
        : {}),
    });
    return {
      endpoint,
      dir,
      pkiDir,
      otherCa,
      expired,
      proc,
      client,
      async stop() {
        client.close();
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Puts `count` keys of `valueBytes` each under `prefix`, 64 at a time, and deletes every tenth. */
export async function fill(client: Etcd3, prefix: string, count: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, 'v');
  for (let i = 0; i < count; i += 64) {
    const ops: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + 64); j++)
      ops.push(
        client
          .put(`${prefix}${String(j).padStart(6, '0')}`)
          .value(value)
          .exec(),
      );
    await Promise.all(ops);
  }
  for (let i = 0; i < count; i += 10)
    await client
      .delete()
      .key(`${prefix}${String(i).padStart(6, '0')}`)
      .exec();
}

/** A clock that says what the test sets; sleep resolves at once. */
export class FakeClock implements Clock {
  constructor(public t: Date) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t = new Date(this.t.getTime() + ms);
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

/** A CliContext for runCli that records every line written. */
export function captureCtx(opts: { cwd: string; clock?: Clock; signal?: AbortSignal }): {
  ctx: CliContext;
  out: string[];
  err: string[];
} {
  const out: string[] = [];
  const err: string[] = [];
  const home = join(opts.cwd, 'home');
  mkdirSync(home, { recursive: true });
  const ctx: CliContext = {
    out: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false },
    env: { ...process.env },
    cwd: opts.cwd,
    clock: opts.clock ?? systemClock,
    exec: processExec,
    signal: opts.signal ?? new AbortController().signal,
    self: { execPath: process.execPath, args: [] },
    home,
  };
  return { ctx, out, err };
}

/** Writes a file and returns its path. */
export function writeTemp(dir: string, name: string, data: string | Buffer, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, data, { mode });
  return p;
}
