// The real TlsProbe: one TLS handshake with node:tls, reading the peer certificate. It does not
// trust or distrust the server here (checkServed compares the certificate with the CA and the file
// on disk itself), sends nothing after the handshake, and gives up after timeoutMs. And the real
// ReadyzProbe: kube-apiserver's anonymous /readyz, for the wait after a restart.
import https from 'node:https';
import tls from 'node:tls';
import type { ReadyzProbe, TlsProbe, TlsTarget } from './served.ts';

/** A TlsProbe on node:tls. */
export function nodeTlsProbe(timeoutMs = 5000): TlsProbe {
  return {
    servedCertificate: (t: TlsTarget) =>
      new Promise<string>((resolve, reject) => {
        const sock = tls.connect({
          host: t.host,
          port: t.port,
          // SNI must be a DNS name; an IP literal is sent without it, as Go's client does.
          ...(t.servername ? { servername: t.servername } : {}),
          ...(t.certPem && t.keyPem ? { cert: t.certPem, key: t.keyPem } : {}),
          // The verdict on the chain is checkServed's, against the CA files on disk.
          rejectUnauthorized: false,
        });
        const timer = setTimeout(() => {
          sock.destroy();
          reject(new Error(`TLS handshake with ${t.host}:${t.port} timed out after ${timeoutMs}ms`));
        }, timeoutMs);
        sock.once('secureConnect', () => {
          clearTimeout(timer);
          const cert = sock.getPeerCertificate();
          sock.end();
          if (!cert.raw) {
            reject(new Error(`${t.host}:${t.port} presented no certificate`));
            return;
          }
          const b64 = cert.raw
            .toString('base64')
            .replace(/(.{64})/g, '$1\n')
            .replace(/\n$/, '');
          resolve(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
        });
        sock.once('error', (e) => {
          clearTimeout(timer);
          sock.destroy();
          reject(e);
        });
      }),
  };
}

/**
 * A ReadyzProbe on node:https. It sends no credentials, and does not verify the server here: the
 * served-certificate check that runs beside it compares what this endpoint serves with the file on
 * disk, and /readyz carries nothing secret either way.
 */
export function nodeReadyzProbe(timeoutMs = 5000): ReadyzProbe {
  return {
    readyz: (t) =>
      new Promise<number>((resolve, reject) => {
        const req = https.get(
          {
            host: t.host,
            port: t.port,
            path: '/readyz',
            rejectUnauthorized: false,
            agent: false,
            timeout: timeoutMs,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`GET /readyz on ${t.host}:${t.port} timed out`)));
        req.on('error', reject);
      }),
  };
}
