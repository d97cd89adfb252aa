// A minimal HTTPS client with a kubeconfig's client certificate, for tests that must see the
// raw wire (status codes, Status bodies, watch streams) rather than a library's view of it.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

interface Kubeconfig {
  clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { user: { 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RawClient {
  server: string;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<RawResponse>;
  /** Opens a watch and collects events until `until` returns true or the timeout passes; then closes it. */
  watch(
    path: string,
    until: (events: { type: string; object: Record<string, unknown> }[]) => boolean,
    timeoutMs?: number,
  ): Promise<{ type: string; object: Record<string, unknown> }[]>;
}

/** A client authenticated as the kubeconfig's user (or anonymous). */
export function rawClient(kubeconfigPath: string, opts: { anonymous?: boolean } = {}): RawClient {
  const kc = parse(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  const cluster = kc.clusters[0]?.cluster;
  const user = kc.users[0]?.user;
  if (!cluster) throw new Error('kubeconfig without a cluster');
  const server = cluster.server;
  const ca = Buffer.from(cluster['certificate-authority-data'], 'base64');
  const tls = opts.anonymous
    ? { ca }
    : {
        ca,
        cert: Buffer.from(user?.['client-certificate-data'] ?? '', 'base64'),
        key: Buffer.from(user?.['client-key-data'] ?? '', 'base64'),
      };
  const url = (path: string): URL => new URL(path, server);
  return {
    server,
    request(method, path, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
        const req = https.request(
          url(path),
          {
            method,
            ...tls,
            agent: false,
            headers: {
              accept: 'application/json',
              ...(data
                ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
                : {}),
              ...headers,
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: text,
                json: <T>() => JSON.parse(text) as T,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    },
    watch(path, until, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const events: { type: string; object: Record<string, unknown> }[] = [];
        let buf = '';
        const req = https.request(url(path), { method: 'GET', ...tls, agent: false }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            buf += d;
            let i: number;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line.trim())
                events.push(JSON.parse(line) as { type: string; object: Record<string, unknown> });
            }
            if (until(events)) {
              clearTimeout(timer);
              req.destroy();
              resolve(events);
            }
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve(events);
          });
        });
        const timer = setTimeout(() => {
          req.destroy();
          reject(
            new Error(
              `watch ${path} timed out with ${events.length} events: ${events.map((e) => e.type).join(',')}`,
            ),
          );
        }, timeoutMs);
        req.on('error', (e) => {
          if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
        });
        req.end();
      });
    },
  };
}
