// Reaches one etcd endpoint before any gRPC call, so that a failure is named precisely: nothing
// listening, a server certificate the CA does not trust, our client certificate refused (expired,
// unknown CA), or a member that says it is unhealthy. etcd serves GET /health on its client port
// with the same TLS as gRPC, so this exercises exactly the credentials the snapshot will use.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { TLSSocket } from 'node:tls';

/** PEM contents of the client's TLS material (never logged). */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Why an endpoint could not be used. */
export type ProbeFailureKind =
  'unreachable' | 'timeout' | 'tls-server-untrusted' | 'tls-client-rejected' | 'tls' | 'unhealthy' | 'http';

/** The outcome of probing one endpoint. */
export type ProbeResult =
  | {
      ok: true;
      /**
       * The DNS names in the subjectAltName of the server certificate, which Node verified for this
       * endpoint (TLS only; kubeadm's etcd server certificates name `localhost` and the node).
       */
      serverDnsNames?: string[];
    }
  | { ok: false; kind: ProbeFailureKind; message: string };

/** The DNS entries of a certificate's subjectaltname ("DNS:localhost, IP Address:127.0.0.1"). */
export function dnsNames(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4))
    .filter((s) => s !== '' && !s.includes('*'));
}

const SERVER_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Turns a Node socket/TLS error into a kind and a one-line message naming the endpoint. */
export function classifyConnectError(
  endpoint: string,
  e: NodeJS.ErrnoException,
): { kind: ProbeFailureKind; message: string } {
  const code = e.code ?? '';
  const msg = e.message;
  if (
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'].includes(
      code,
    ) &&
    !/alert/i.test(msg)
  ) {
    return { kind: 'unreachable', message: `etcd endpoint ${endpoint} is unreachable (${code})` };
  }
  if (SERVER_UNTRUSTED.has(code)) {
    const why =
      code === 'CERT_HAS_EXPIRED'
        ? "the server's certificate has expired"
        : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? "the server's certificate is not valid for this address"
          : "the server's certificate is not signed by the given CA";
    return { kind: 'tls-server-untrusted', message: `TLS error talking to ${endpoint}: ${why} (${code})` };
  }
  if (/alert|certificate required/i.test(msg) || /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT/.test(code)) {
    const why = /expired/i.test(msg + code)
      ? 'etcd rejected our client certificate as expired'
      : /unknown.ca|unknown_ca/i.test(msg + code)
        ? 'etcd does not trust the CA of our client certificate'
        : /certificate.required|certificate_required/i.test(msg + code)
          ? 'etcd requires a client certificate'
          : 'etcd rejected our client certificate';
    return {
      kind: 'tls-client-rejected',
      message: `TLS error talking to ${endpoint}: ${why} (${code || msg})`,
    };
  }
  if (/SSL|TLS|certificate|wrong version number/i.test(code + msg)) {
    return { kind: 'tls', message: `TLS error talking to ${endpoint}: ${msg}` };
  }
  return { kind: 'unreachable', message: `etcd endpoint ${endpoint} is unreachable: ${msg}` };
}

/**
 * The name gRPC should check the server certificate against, for an endpoint given by IP address.
 * grpc-js would send the IP as TLS server name, which Node deprecates (DEP0123, RFC 6066 allows
 * only host names). The probe has already verified the certificate for that IP over HTTPS; gRPC
 * then checks the same CA-signed certificate against one of its DNS names (kubeadm's etcd server
 * certificates carry `localhost` and the node name), preferring `localhost` as etcdctl users do.
 * Undefined for host names (nothing to change) and for certificates without DNS names.
 */
export function tlsServerName(endpoint: string, dnsNames: readonly string[] | undefined): string | undefined {
  let host: string;
  try {
    const u = new URL(endpoint);
    if (u.protocol !== 'https:') return undefined;
    host = u.hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
  if (isIP(host) === 0 || !dnsNames || dnsNames.length === 0) return undefined;
  return dnsNames.includes('localhost') ? 'localhost' : dnsNames[0];
}

/** GET /health on an endpoint with the given TLS material, within `timeoutMs`; classifies any failure. */
export function probeHealth(
  endpoint: string,
  tls: TlsMaterial | null,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL('/health', endpoint);
    } catch {
      resolve({
        ok: false,
        kind: 'unreachable',
        message: `invalid etcd endpoint ${JSON.stringify(endpoint)}`,
      });
      return;
    }
    let settled = false;
    let deadline: NodeJS.Timeout | undefined = undefined;
    const done = (r: ProbeResult): void => {
      clearTimeout(deadline);
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const onRes = (res: http.IncomingMessage): void => {
      // Read while the socket is open: the names the server's (verified) certificate carries.
      const peer = res.socket instanceof TLSSocket ? res.socket.getPeerCertificate() : undefined;
      const names = peer && Object.keys(peer).length > 0 ? dnsNames(peer.subjectaltname) : undefined;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('error', (e) => done({ ok: false, ...classifyConnectError(endpoint, e) }));
      res.on('end', () => {
        if (res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body))
          done(names ? { ok: true, serverDnsNames: names } : { ok: true });
        else if (res.statusCode === 200 || res.statusCode === 503) {
          const reason = /"reason"\s*:\s*"([^"]*)"/.exec(body)?.[1];
          done({
            ok: false,
            kind: 'unhealthy',
            message: `etcd at ${endpoint} reports it is unhealthy${reason ? ` (${reason})` : ''}`,
          });
        } else
          done({
            ok: false,
            kind: 'http',
            message: `etcd at ${endpoint} answered /health with HTTP ${res.statusCode ?? '?'}`,
          });
      });
    };
    // One deadline for the whole answer (connect, TLS, headers, body): an idle timeout alone
    // misses a server that sends a byte now and then and never finishes.
    const opts = { agent: false as const };
    const req =
      url.protocol === 'https:'
        ? https.get(
            url,
            { ...opts, ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: true },
            onRes,
          )
        : url.protocol === 'http:'
          ? http.get(url, opts, onRes)
          : null;
    if (req === null) {
      done({
        ok: false,
        kind: 'unreachable',
        message: `etcd endpoint ${endpoint} must start with https:// or http://`,
      });
      return;
    }
    deadline = setTimeout(() => {
      done({
        ok: false,
        kind: 'timeout',
        message: `etcd endpoint ${endpoint} did not answer within ${timeoutMs} ms`,
      });
      req.destroy();
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, ...classifyConnectError(endpoint, e) }));
  });
}
