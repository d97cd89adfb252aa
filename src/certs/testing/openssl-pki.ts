// Test helper: a kubeadm-layout PKI made with plain openssl commands (no bosun code involved), so
// `certs check` is tested on files it did not write. Keys are EC P-256 except where a test asks
// for RSA; validity is set per file with -days so rows differ.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openssl } from './openssl.ts';

/** One leaf to make: where, by which CA, for whom, for how long. */
interface LeafPlan {
  base: string;
  ca: 'ca' | 'etcd/ca' | 'front-proxy-ca';
  subj: string;
  eku: string;
  san?: string;
  days: number;
}

/** Days each certificate is made valid for, so tests can tell them apart. */
export const OPENSSL_PKI_DAYS: Record<string, number> = {
  apiserver: 10,
  'apiserver-kubelet-client': 200,
  'front-proxy-client': 201,
  'etcd/server': 202,
  'etcd/peer': 203,
  'etcd/healthcheck-client': 204,
  'apiserver-etcd-client': 205,
  'admin.conf': 206,
  'super-admin.conf': 207,
  'controller-manager.conf': 208,
  'scheduler.conf': 209,
  kubelet: 100,
  'kubelet-serving': 50,
};

const LEAVES: LeafPlan[] = [
  {
    base: 'apiserver',
    ca: 'ca',
    subj: '/CN=kube-apiserver',
    eku: 'serverAuth',
    san: 'DNS:node-a,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:192.0.2.7',
    days: OPENSSL_PKI_DAYS['apiserver'] ?? 1,
  },
  {
    base: 'apiserver-kubelet-client',
    ca: 'ca',
    subj: '/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client',
    eku: 'clientAuth',
    days: 200,
  },
  {
    base: 'front-proxy-client',
    ca: 'front-proxy-ca',
    subj: '/CN=front-proxy-client',
    eku: 'clientAuth',
    days: 201,
  },
  {
    base: 'etcd/server',
    ca: 'etcd/ca',
    subj: '/CN=node-a',
    eku: 'serverAuth,clientAuth',
    san: 'DNS:node-a,DNS:localhost,IP:192.0.2.7,IP:127.0.0.1,IP:::1',
    days: 202,
  },
  {
    base: 'etcd/peer',
    ca: 'etcd/ca',
    subj: '/CN=node-a',
    eku: 'serverAuth,clientAuth',
    san: 'DNS:node-a,DNS:localhost,IP:192.0.2.7,IP:127.0.0.1,IP:::1',
    days: 203,
  },
  {
    base: 'etcd/healthcheck-client',
    ca: 'etcd/ca',
    subj: '/CN=kube-etcd-healthcheck-client',
    eku: 'clientAuth',
    days: 204,
  },
  {
    base: 'apiserver-etcd-client',
    ca: 'etcd/ca',
    subj: '/CN=kube-apiserver-etcd-client',
    eku: 'clientAuth',
    days: 205,
  },
];

const KUBECONFIGS = [
  { file: 'admin.conf', subj: '/O=kubeadm:cluster-admins/CN=kubernetes-admin', days: 206 },
  { file: 'super-admin.conf', subj: '/O=system:masters/CN=kubernetes-super-admin', days: 207 },
  { file: 'controller-manager.conf', subj: '/CN=system:kube-controller-manager', days: 208 },
  { file: 'scheduler.conf', subj: '/CN=system:kube-scheduler', days: 209 },
];

function genKey(path: string, rsa = false): void {
  if (rsa) openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path]);
  else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

async function signLeaf(
  dir: string,
  out: string,
  key: string,
  caBase: string,
  subj: string,
  eku: string,
  days: number,
  san?: string,
): Promise<void> {
  const ext = `${out}.ext`;
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  if (san) lines.push(`subjectAltName=${san}`);
  await writeFile(ext, lines.join('\n') + '\n');
  const csr = openssl(['req', '-new', '-key', key, '-subj', subj]);
  openssl(
    [
      'x509',
      '-req',
      '-CA',
      join(dir, `${caBase}.crt`),
      '-CAkey',
      join(dir, `${caBase}.key`),
      '-set_serial',
      String(Date.now() % 1e9),
      '-days',
      String(days),
      '-extfile',
      ext,
      '-out',
      out,
    ],
    csr,
  );
}

function kubeconfig(server: string, caPem: string, user: string, auth: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${b64(caPem)}
    server: ${server}
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: ${user}
  name: ${user}@kubernetes
current-context: ${user}@kubernetes
kind: Config
users:
- name: ${user}
  user:
${auth}
`;
}

/** Builds the PKI under root/etc/kubernetes and root/var/lib/kubelet/pki; returns those dirs. */
export async function makeOpensslPki(
  root: string,
): Promise<{ etc: string; pki: string; kubeletPki: string }> {
  const { readFile } = await import('node:fs/promises');
  const etc = join(root, 'etc', 'kubernetes');
  const pki = join(etc, 'pki');
  const kubeletPki = join(root, 'var', 'lib', 'kubelet', 'pki');
  await mkdir(join(pki, 'etcd'), { recursive: true });
  await mkdir(kubeletPki, { recursive: true });
  for (const [base, cn, rsa] of [
    ['ca', 'kubernetes', true],
    ['etcd/ca', 'etcd-ca', false],
    ['front-proxy-ca', 'front-proxy-ca', false],
  ] as const) {
    genKey(join(pki, `${base}.key`), rsa);
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      join(pki, `${base}.key`),
      '-subj',
      `/CN=${cn}`,
      '-days',
      '3650',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
      '-out',
      join(pki, `${base}.crt`),
    ]);
  }
  for (const leaf of LEAVES) {
    const key = join(pki, `${leaf.base}.key`);
    genKey(key, leaf.base === 'apiserver');
    await signLeaf(
      pki,
      join(pki, `${leaf.base}.crt`),
      key,
      leaf.ca,
      leaf.subj,
      leaf.eku,
      leaf.days,
      leaf.san,
    );
  }
  const caPem = await readFile(join(pki, 'ca.crt'), 'utf8');
  for (const kc of KUBECONFIGS) {
    const key = join(root, `${kc.file}.key`);
    const crt = join(root, `${kc.file}.crt`);
    genKey(key);
    await signLeaf(pki, crt, key, 'ca', kc.subj, 'clientAuth', kc.days);
    const user = /CN=([^/]+)$/.exec(kc.subj)?.[1] ?? '';
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const auth = `    client-certificate-data: ${b64(await readFile(crt, 'utf8'))}\n    client-key-data: ${b64(await readFile(key, 'utf8'))}`;
    await writeFile(join(etc, kc.file), kubeconfig('https://192.0.2.7:6443', caPem, user, auth), {
      mode: 0o600,
    });
  }
  // The kubelet: a dated client pem (cert + key) and the current symlink, kubelet.conf naming it.
  const kKey = join(root, 'kubelet-client.key');
  const kCrt = join(root, 'kubelet-client.crt');
  genKey(kKey);
  await signLeaf(
    pki,
    kCrt,
    kKey,
    'ca',
    '/O=system:nodes/CN=system:node:node-a',
    'clientAuth',
    OPENSSL_PKI_DAYS['kubelet'] ?? 1,
  );
  const dated = join(kubeletPki, 'kubelet-client-2026-01-01-00-00-00.pem');
  await writeFile(dated, (await readFile(kCrt, 'utf8')) + (await readFile(kKey, 'utf8')), { mode: 0o600 });
  await symlink(dated, join(kubeletPki, 'kubelet-client-current.pem'));
  const current = '/var/lib/kubelet/pki/kubelet-client-current.pem';
  await writeFile(
    join(etc, 'kubelet.conf'),
    kubeconfig(
      'https://192.0.2.7:6443',
      caPem,
      'system:node:node-a',
      `    client-certificate: ${current}\n    client-key: ${current}`,
    ),
    { mode: 0o600 },
  );
  // Self-signed serving certificate.
  genKey(join(kubeletPki, 'kubelet.key'));
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    join(kubeletPki, 'kubelet.key'),
    '-subj',
    '/CN=node-a@1700000000',
    '-days',
    String(OPENSSL_PKI_DAYS['kubelet-serving'] ?? 1),
    '-addext',
    'subjectAltName=DNS:node-a',
    '-addext',
    'extendedKeyUsage=serverAuth',
    '-out',
    join(kubeletPki, 'kubelet.crt'),
  ]);
  return { etc, pki, kubeletPki };
}
