// Reading a kubeconfig's current user credentials, and replacing an embedded client certificate
// without disturbing anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { isBosunError } from '../common/errors.ts';
import {
  KubeconfigError,
  buildKubeconfig,
  readKubeconfigCredentials,
  replaceEmbeddedClientCert,
} from './kubeconfig.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function cfg(user: string, extra = ''): string {
  return `# managed by hand
apiVersion: v1
kind: Config
clusters:
- name: k
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: ${b64('CA')}
contexts:
- name: c
  context:
    cluster: k
    user: u
- name: other
  context:
    cluster: k
    user: v
current-context: c
users:
- name: v
  user:
    token: other-token
- name: u
  user:
${user}
${extra}`;
}

for (const tc of [
  {
    name: 'embedded cert and key',
    user: `    client-certificate-data: ${b64('CERT')}\n    client-key-data: ${b64('KEY')}`,
    want: { kind: 'embedded', certPem: 'CERT', keyPem: 'KEY' },
  },
  {
    name: 'embedded cert without key',
    user: `    client-certificate-data: ${b64('CERT')}`,
    want: { kind: 'embedded', certPem: 'CERT', keyPem: undefined },
  },
  {
    name: 'files',
    user: '    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem',
    want: {
      kind: 'file',
      certFile: '/var/lib/kubelet/pki/kubelet-client-current.pem',
      keyFile: '/var/lib/kubelet/pki/kubelet-client-current.pem',
    },
  },
  { name: 'a token', user: '    token: abc', want: { kind: 'token' } },
  { name: 'an exec plugin', user: '    exec:\n      command: aws', want: { kind: 'exec' } },
  { name: 'nothing', user: '    {}', want: { kind: 'none' } },
]) {
  test(`readKubeconfigCredentials: ${tc.name}`, () => {
    const c = readKubeconfigCredentials(cfg(tc.user));
    assert.deepEqual(c.auth, tc.want);
    assert.equal(c.userName, 'u');
    assert.equal(c.server, 'https://10.0.0.1:6443');
    assert.equal(c.caPem, 'CA');
  });
}

for (const tc of [
  { name: 'not YAML', text: 'a: [', msg: /^not a valid kubeconfig \(YAML\)/ },
  { name: 'empty', text: '', msg: /^not a valid kubeconfig: the file is empty or not a YAML mapping$/ },
  {
    name: 'no current-context',
    text: 'apiVersion: v1\nkind: Config\n',
    msg: /^kubeconfig has no current-context$/,
  },
  {
    name: 'dangling context',
    text: 'current-context: x\ncontexts: []\n',
    msg: /^kubeconfig's current-context "x" is not among its contexts$/,
  },
  {
    name: 'dangling user',
    text: 'current-context: x\ncontexts:\n- name: x\n  context: {user: nobody, cluster: k}\nusers: []\n',
    msg: /^kubeconfig's user "nobody" \(of context "x"\) is not among its users$/,
  },
]) {
  test(`readKubeconfigCredentials refuses ${tc.name} with one line`, () => {
    assert.throws(
      () => readKubeconfigCredentials(tc.text),
      (e: unknown) => e instanceof KubeconfigError && tc.msg.test(e.message) && !e.message.includes('\n'),
    );
  });
}

test('a kubeconfig refused for its content is a user error (exit code 1 with a hint), not a bug', () => {
  assert.throws(
    () => readKubeconfigCredentials(''),
    (e: unknown) => isBosunError(e) && e.exitCode === 1 && e.code === 'USAGE' && (e.hint ?? '') !== '',
  );
});

test('replaceEmbeddedClientCert changes only the current user’s two fields, keeping comments and the other user', () => {
  const before = cfg(
    `    client-certificate-data: ${b64('OLD')}\n    client-key-data: ${b64('OLDKEY')}`,
    'preferences: {}\n',
  );
  const after = replaceEmbeddedClientCert(before, 'NEW', 'NEWKEY');
  assert.ok(after.startsWith('# managed by hand\n'));
  const a = parse(after) as Record<string, unknown>;
  const b = parse(before) as Record<string, unknown>;
  const users = a['users'] as { name: string; user: Record<string, string> }[];
  assert.deepEqual(users[0], { name: 'v', user: { token: 'other-token' } });
  assert.deepEqual(users[1], {
    name: 'u',
    user: { 'client-certificate-data': b64('NEW'), 'client-key-data': b64('NEWKEY') },
  });
  for (const k of ['clusters', 'contexts', 'current-context', 'preferences', 'apiVersion', 'kind'])
    assert.deepEqual(a[k], b[k], k);
});

test('replaceEmbeddedClientCert refuses a kubeconfig without an embedded certificate', () => {
  assert.throws(() => replaceEmbeddedClientCert(cfg('    token: abc'), 'N', 'K'), KubeconfigError);
});

test('buildKubeconfig writes what readKubeconfigCredentials reads back', () => {
  const text = buildKubeconfig({
    clusterName: 'kubernetes',
    server: 'https://127.0.0.1:6443',
    caPem: 'CA',
    userName: 'kubernetes-admin',
    contextName: 'kubernetes-admin@kubernetes',
    auth: { certPem: 'C', keyPem: 'K' },
  });
  assert.match(text, /^clusters:\n- cluster:/m, 'sequences flush with their key, as clientcmd writes them');
  const c = readKubeconfigCredentials(text);
  assert.deepEqual(c, {
    contextName: 'kubernetes-admin@kubernetes',
    userName: 'kubernetes-admin',
    clusterName: 'kubernetes',
    server: 'https://127.0.0.1:6443',
    caPem: 'CA',
    auth: { kind: 'embedded', certPem: 'C', keyPem: 'K' },
  });
});
