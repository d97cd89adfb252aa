// Loads the client's TLS files (etcdctl's --cacert/--cert/--key; kubeadm's paths by default) and
// names what is wrong before any connection: a missing or unreadable file, a file that is not PEM,
// a key that is no private key or not the certificate's, a client certificate that has expired or
// is not yet valid.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { TlsMaterial } from './probe.ts';

/** Where kubeadm keeps the etcd PKI on a control-plane node. */
export const KUBEADM_PKI_DIR = '/etc/kubernetes/pki';
/** kubeadm's etcd client URL on a control-plane node. */
export const KUBEADM_ETCD_ENDPOINT = 'https://127.0.0.1:2379';

/** Paths of the client's TLS files. */
export interface TlsPaths {
  cacert: string;
  cert: string;
  key: string;
}

/** kubeadm's paths under a pki directory (etcd/ca.crt, etcd/server.crt, etcd/server.key). */
export function kubeadmTlsPaths(pkiDir = KUBEADM_PKI_DIR): TlsPaths {
  return {
    cacert: join(pkiDir, 'etcd', 'ca.crt'),
    cert: join(pkiDir, 'etcd', 'server.crt'),
    key: join(pkiDir, 'etcd', 'server.key'),
  };
}

function readPem(path: string, flag: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BosunError(
      code === 'ENOENT'
        ? `${flag} file ${path} does not exist`
        : `cannot read ${flag} file ${path}: ${errorMessage(e)}`,
      'TLS',
      {
        cause: e,
        hint: `On a kubeadm control-plane node run as root; elsewhere pass ${flag} (see 'bosun backup -h').`,
      },
    );
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) {
    throw new BosunError(`${flag} file ${path} is not PEM`, 'TLS', { exitCode: 2 });
  }
  return data;
}

/**
 * Reads the three files and checks the client certificate's validity period against `now`.
 * Never logs their contents.
 */
export function loadTls(paths: TlsPaths, now: Date): TlsMaterial {
  const ca = readPem(paths.cacert, '--cacert');
  const cert = readPem(paths.cert, '--cert');
  const key = readPem(paths.key, '--key');
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    throw new BosunError(`--cert file ${paths.cert} is not a valid certificate: ${errorMessage(e)}`, 'TLS', {
      exitCode: 2,
      cause: e,
    });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new BosunError(`--key file ${paths.key} holds no private key (${errorMessage(e)})`, 'TLS', {
      exitCode: 2,
      cause: e,
    });
  }
  if (!x.checkPrivateKey(privateKey)) {
    throw new BosunError(
      `--key file ${paths.key} does not belong to --cert file ${paths.cert}: the certificate was issued for another private key`,
      'TLS',
      {
        hint: 'Pass the key that was created with the certificate (kubeadm keeps it beside the .crt as .key).',
      },
    );
  }
  const notAfter = new Date(x.validTo);
  const notBefore = new Date(x.validFrom);
  if (now.getTime() > notAfter.getTime()) {
    throw new BosunError(`TLS client certificate ${paths.cert} expired on ${notAfter.toISOString()}`, 'TLS', {
      hint: 'Renew it (bosun certs renew, or kubeadm certs renew etcd-server) or pass another with --cert/--key.',
    });
  }
  if (now.getTime() < notBefore.getTime()) {
    throw new BosunError(
      `TLS client certificate ${paths.cert} is not valid before ${notBefore.toISOString()}`,
      'TLS',
      {
        hint: "Check this machine's clock.",
      },
    );
  }
  return { ca, cert, key };
}
