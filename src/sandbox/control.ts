// The sandbox's control endpoint: HTTP on 127.0.0.1 with a bearer token from state.json (0600).
// The node shims call POST /v1/shim; tests and `bosun sandbox fault` use the fault routes;
// `bosun sandbox restore` calls POST /v1/restore.
// docs/sandbox.md documents every route.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AuditQuery } from './apiserver/audit.ts';
import type { FaultRule } from './apiserver/faults.ts';
import type { ShimIO } from './node/commands.ts';
import type { StaticPodFault } from './node/kubelet.ts';

/** What the control endpoint can ask of the sandbox. */
export interface SandboxControl {
  runShim(node: string, command: string, args: string[], io: ShimIO): Promise<number>;
  status(): Promise<unknown>;
  addFault(rule: FaultRule): number;
  clearFaults(id?: number): void;
  listFaults(): unknown;
  stopEtcd(node: string): Promise<void>;
  startEtcd(node: string): Promise<void>;
  setNeverReturn(node: string, enabled: boolean): void;
  setStaticPodFault(node: string, component: string, mode: StaticPodFault | false): void;
  compact(): Promise<number>;
  /** Restores etcd from a snapshot file (keyFile for an encrypted one); resolves with the result. */
  restoreFromControl(
    file: string,
    keyFile: string | undefined,
    progress: (line: string) => void,
  ): Promise<unknown>;
  shutdown(): void;
  /** The audit record (GET /v1/audit?user=&allowed=&since=). */
  audit(query: AuditQuery): unknown;
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      try {
        resolve(body ? (JSON.parse(body) as unknown) : {});
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts the control endpoint; resolves with a function that stops it. */
export async function startControlServer(
  port: number,
  token: string,
  ctl: SandboxControl,
): Promise<() => Promise<void>> {
  const want = Buffer.from(`Bearer ${token}`);
  const server = http.createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    if (auth.length !== want.length || !timingSafeEqual(auth, want)) {
      send(res, 401, { error: 'unauthorized' });
      return;
    }
    void route(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.end();
    });
  });
  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control');
    const seg = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (seg[0] !== 'v1') return send(res, 404, { error: 'not found' });
    if (seg[1] === 'shim' && method === 'POST') {
      const body = (await readJson(req)) as { node?: string; command?: string; args?: string[] };
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      const io: ShimIO = {
        out: (t) => void res.write(JSON.stringify({ stdout: t }) + '\n'),
        err: (t) => void res.write(JSON.stringify({ stderr: t }) + '\n'),
      };
      let code: number;
      try {
        code = await ctl.runShim(body.node ?? '', body.command ?? '', body.args ?? [], io);
      } catch (e) {
        io.err(`${body.command ?? ''}: ${e instanceof Error ? e.message : String(e)}\n`);
        code = 1;
      }
      res.end(JSON.stringify({ exitCode: code }) + '\n');
      return;
    }
    if (seg[1] === 'status' && method === 'GET') return send(res, 200, await ctl.status());
    if (seg[1] === 'audit' && method === 'GET') {
      const q = url.searchParams;
      const since = q.get('since');
      const allowed = q.get('allowed');
      return send(
        res,
        200,
        ctl.audit({
          ...(q.get('user') !== null ? { user: q.get('user') ?? '' } : {}),
          ...(allowed === 'true' || allowed === 'false' ? { allowed: allowed === 'true' } : {}),
          ...(since !== null && /^\d+$/.test(since) ? { since: Number(since) } : {}),
        }),
      );
    }
    if (seg[1] === 'faults') {
      if (method === 'GET') return send(res, 200, ctl.listFaults());
      if (method === 'POST') return send(res, 201, { id: ctl.addFault((await readJson(req)) as FaultRule) });
      if (method === 'DELETE') {
        ctl.clearFaults(seg[2] === undefined ? undefined : Number(seg[2]));
        return send(res, 200, {});
      }
    }
    if (seg[1] === 'etcd' && seg[2] && method === 'POST') {
      if (seg[3] === 'stop') await ctl.stopEtcd(seg[2]);
      else if (seg[3] === 'start') await ctl.startEtcd(seg[2]);
      else return send(res, 404, { error: 'not found' });
      return send(res, 200, {});
    }
    if (seg[1] === 'nodes' && seg[2] && seg[3] === 'never-return' && method === 'POST') {
      const body = (await readJson(req)) as { enabled?: boolean };
      ctl.setNeverReturn(seg[2], body.enabled !== false);
      return send(res, 200, {});
    }
    if (seg[1] === 'nodes' && seg[2] && seg[3] === 'static-pod-fault' && method === 'POST') {
      const body = (await readJson(req)) as { component?: string; mode?: string | null };
      const mode = body.mode ?? false;
      if (!body.component || (mode !== false && mode !== 'ignore-new' && mode !== 'no-start'))
        return send(res, 400, {
          error: 'want {"component": NAME, "mode": "ignore-new" | "no-start" | null}',
        });
      ctl.setStaticPodFault(seg[2], body.component, mode);
      return send(res, 200, {});
    }
    if (seg[1] === 'compact' && method === 'POST') return send(res, 200, { revision: await ctl.compact() });
    if (seg[1] === 'restore' && method === 'POST') {
      // Streams {"progress": line} records, then {"result": ...} or {"error", "hint", "exitCode"}.
      const body = (await readJson(req)) as { file?: string; keyFile?: string };
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      try {
        if (!body.file) throw new Error('no snapshot file given');
        const result = await ctl.restoreFromControl(
          body.file,
          body.keyFile,
          (line) => void res.write(JSON.stringify({ progress: line }) + '\n'),
        );
        res.end(JSON.stringify({ result }) + '\n');
      } catch (e) {
        const err = e as { message?: string; hint?: string; exitCode?: number };
        res.end(
          JSON.stringify({
            error: err.message ?? String(e),
            ...(err.hint ? { hint: err.hint } : {}),
            exitCode: err.exitCode ?? 1,
          }) + '\n',
        );
      }
      return;
    }
    if (seg[1] === 'shutdown' && method === 'POST') {
      send(res, 202, {});
      ctl.shutdown();
      return;
    }
    send(res, 404, { error: 'not found' });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve());
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}
