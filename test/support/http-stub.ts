// A small HTTP server for the reboot agent's tests: a Prometheus-compatible /api/v1/alerts whose
// alerts the test sets, and a webhook that keeps what it receives. Listens on 127.0.0.1 on a free
// port; the test closes it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The stub and what it saw. */
export interface HttpStub {
  url: string;
  /** The alerts /api/v1/alerts answers with (Prometheus's shape). */
  alerts: { labels: Record<string, string>; state: 'firing' | 'pending' }[];
  /** Bodies POSTed to /hook, parsed. */
  received: unknown[];
  /** Resolves when a POSTed body satisfies pred (checked for those so far and each new one). */
  waitFor(what: string, pred: (body: unknown) => boolean, timeoutMs: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Starts the stub. */
export async function startHttpStub(): Promise<HttpStub> {
  const waiters = new Set<(b: unknown) => void>();
  const stub = {
    url: '',
    alerts: [] as HttpStub['alerts'],
    received: [] as unknown[],
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.method === 'GET' && req.url?.startsWith('/api/v1/alerts')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'success', data: { alerts: stub.alerts } }));
        return;
      }
      if (req.method === 'POST' && req.url === '/hook') {
        const parsed: unknown = JSON.parse(body);
        stub.received.push(parsed);
        for (const w of [...waiters]) w(parsed);
        res.writeHead(200).end('ok');
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(stub, {
    waitFor(what: string, pred: (b: unknown) => boolean, timeoutMs: number): Promise<unknown> {
      const hit = stub.received.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const check = (b: unknown): void => {
          if (!pred(b)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(b);
        };
        waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
