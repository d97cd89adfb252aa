// The HTTP port the reboot agent's blockers (Prometheus, Alertmanager) and notifications (webhooks,
// Slack) go through, its real implementation on Node's fetch, and the one function that turns a URL
// into something safe to print. Webhook URLs carry their token in the path (Slack's
// /services/T.../B.../secret) or in userinfo, so neither a log line nor an error message ever
// contains more of a URL than its scheme, host and port.

/** One request. */
export interface HttpRequest {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Give up after this many milliseconds (connect, send and read together). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One answer: the status and the body as text. */
export interface HttpResponse {
  status: number;
  body: string;
}

/** Sends requests. Rejects on network errors and timeouts; any HTTP status resolves. */
export interface HttpPort {
  request(req: HttpRequest): Promise<HttpResponse>;
}

/** The most of a response body that is read (alerts lists are small; anything larger is refused). */
const MAX_BODY = 8 * 1024 * 1024;

/** "https://hooks.slack.com/…": scheme, host and port only, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const rest = u.pathname !== '/' || u.search !== '' ? '/…' : '';
    return `${u.protocol}//${u.host}${rest}`;
  } catch {
    return '<invalid URL>';
  }
}

/** The message of an error with the URL (with or without credentials) and its credentials replaced by the redacted URL. */
export function redactError(e: unknown, url: string): string {
  let msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Error && e.cause instanceof Error && e.cause.message && !msg.includes(e.cause.message))
    msg = `${msg}: ${e.cause.message}`;
  const safe = redactUrl(url);
  const parts = [url];
  try {
    const u = new URL(url);
    parts.push(u.href, u.username, u.password);
    u.username = '';
    u.password = '';
    parts.push(u.href);
  } catch {
    // not a URL: only the text itself
  }
  for (const p of parts.filter((x) => x.length > 1).sort((a, b) => b.length - a.length))
    msg = msg.split(p).join(safe);
  return msg;
}

/** A URL without userinfo, and the Basic authorization header the userinfo stood for (fetch refuses URLs with credentials). */
export function splitCredentials(url: string): { url: string; authorization?: string } {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return { url };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

/** The real port, on the global fetch (Node 20). */
export const fetchHttp: HttpPort = {
  async request(req: HttpRequest): Promise<HttpResponse> {
    const { url, authorization } = splitCredentials(req.url);
    const timeout = AbortSignal.timeout(req.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (authorization !== undefined && headers['authorization'] === undefined)
      headers['authorization'] = authorization;
    const res = await fetch(url, {
      method: req.method ?? 'GET',
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal,
      redirect: 'error',
    });
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > MAX_BODY) {
          await reader.cancel();
          throw new Error(`response larger than ${MAX_BODY} bytes`);
        }
        chunks.push(value);
      }
    }
    return { status: res.status, body: Buffer.concat(chunks).toString('utf8') };
  },
};
