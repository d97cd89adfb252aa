import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SKEW_POLICY,
  SKEW_RULES,
  checkSkew,
  checkStep,
  parseVersion,
  rulesFor,
  type ComponentVersion,
  type SkewRule,
} from './skew.ts';

const api = (node: string, version: string): ComponentVersion => ({
  component: 'kube-apiserver',
  node,
  version,
});
const kubelet = (node: string, version: string): ComponentVersion => ({
  component: 'kubelet',
  node,
  version,
});
const proxy = (node: string, version: string): ComponentVersion => ({
  component: 'kube-proxy',
  node,
  version,
});
const kcm = (node: string, version: string, apiserver?: 'local' | 'any'): ComponentVersion => ({
  component: 'kube-controller-manager',
  node,
  version,
  ...(apiserver ? { apiserver } : {}),
});
const sched = (node: string, version: string): ComponentVersion => ({
  component: 'kube-scheduler',
  node,
  version,
});
const ccm = (node: string, version: string): ComponentVersion => ({
  component: 'cloud-controller-manager',
  node,
  version,
  apiserver: 'any',
});

const rules = (cs: ComponentVersion[]): string[] =>
  checkSkew(cs).map((v) => `${v.rule}:${v.component}@${v.node}`);

for (const tc of [
  // kube-apiserver instances within one minor of each other
  { name: 'apiservers at one minor', cs: [api('cp-1', 'v1.34.3'), api('cp-2', 'v1.34.1')], want: [] },
  { name: 'apiservers one minor apart', cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5')], want: [] },
  {
    name: 'apiservers two minors apart',
    cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5'), api('cp-3', 'v1.32.9')],
    want: ['apiserver-spread:kube-apiserver@cp-3'],
  },
  // kubelet never newer than the oldest kube-apiserver
  {
    name: 'kubelet equal minor, newer patch',
    cs: [api('cp-1', 'v1.34.1'), kubelet('w', 'v1.34.3')],
    want: [],
  },
  {
    name: 'kubelet one minor newer',
    cs: [api('cp-1', 'v1.34.1'), kubelet('w', 'v1.35.0')],
    want: ['kubelet-newer:kubelet@w'],
  },
  {
    name: 'kubelet newer than the oldest of HA apiservers',
    cs: [api('cp-1', 'v1.34.1'), api('cp-2', 'v1.33.5'), kubelet('w', 'v1.34.1')],
    want: ['kubelet-newer:kubelet@w'],
  },
  // at most three minors older (two below v1.25)
  {
    name: 'kubelet three behind (1.31 vs 1.34)',
    cs: [api('cp-1', 'v1.34.1'), kubelet('w', 'v1.31.0')],
    want: [],
  },
  {
    name: 'kubelet four behind (1.30 vs 1.34)',
    cs: [api('cp-1', 'v1.34.1'), kubelet('w', 'v1.30.14')],
    want: ['kubelet-too-old:kubelet@w'],
  },
  {
    name: 'kubelet three behind the newest of HA apiservers is measured from the newest',
    cs: [api('cp-1', 'v1.34.1'), api('cp-2', 'v1.33.0'), kubelet('w', 'v1.30.0')],
    want: ['kubelet-too-old:kubelet@w'],
  },
  { name: 'kubelet 1.25 three behind 1.28', cs: [api('cp-1', 'v1.28.0'), kubelet('w', 'v1.25.0')], want: [] },
  { name: 'kubelet 1.24 two behind 1.26', cs: [api('cp-1', 'v1.26.0'), kubelet('w', 'v1.24.9')], want: [] },
  {
    name: 'kubelet 1.24 three behind 1.27 (below 1.25: two)',
    cs: [api('cp-1', 'v1.27.0'), kubelet('w', 'v1.24.9')],
    want: ['kubelet-too-old:kubelet@w'],
  },
  // kube-proxy: not newer, at most three older (two below 1.25), within three of its kubelet
  {
    name: 'kube-proxy newer than apiserver',
    cs: [api('cp-1', 'v1.33.0'), proxy('w', 'v1.34.0')],
    want: ['kube-proxy-newer:kube-proxy@w'],
  },
  { name: 'kube-proxy three behind', cs: [api('cp-1', 'v1.34.0'), proxy('w', 'v1.31.0')], want: [] },
  {
    name: 'kube-proxy four behind',
    cs: [api('cp-1', 'v1.34.0'), proxy('w', 'v1.30.0')],
    want: ['kube-proxy-too-old:kube-proxy@w'],
  },
  {
    name: 'kube-proxy 1.24 three behind 1.27',
    cs: [api('cp-1', 'v1.27.0'), proxy('w', 'v1.24.0')],
    want: ['kube-proxy-too-old:kube-proxy@w'],
  },
  {
    name: 'kube-proxy three newer than its kubelet',
    cs: [api('cp-1', 'v1.34.0'), kubelet('w', 'v1.31.2'), proxy('w', 'v1.34.0')],
    want: [],
  },
  {
    name: 'kube-proxy four newer than its kubelet',
    cs: [api('cp-1', 'v1.34.0'), kubelet('w', 'v1.30.0'), proxy('w', 'v1.34.0')],
    want: ['kubelet-too-old:kubelet@w', 'kube-proxy-kubelet:kube-proxy@w'],
  },
  {
    name: 'kube-proxy 1.24 three older than its kubelet 1.27 (below 1.25: two)',
    cs: [api('cp-1', 'v1.27.0'), kubelet('w', 'v1.27.0'), proxy('w', 'v1.24.0')],
    want: ['kube-proxy-too-old:kube-proxy@w', 'kube-proxy-kubelet:kube-proxy@w'],
  },
  {
    name: 'kube-proxy compared with the kubelet of its own node only',
    cs: [api('cp-1', 'v1.34.0'), kubelet('a', 'v1.31.0'), proxy('b', 'v1.34.0')],
    want: [],
  },
  // controllers: never newer than the apiserver they talk to, at most one older
  { name: 'kcm one behind', cs: [api('cp-1', 'v1.34.0'), kcm('cp-1', 'v1.33.9')], want: [] },
  {
    name: 'kcm two behind',
    cs: [api('cp-1', 'v1.34.0'), kcm('cp-1', 'v1.32.0')],
    want: ['controller-too-old:kube-controller-manager@cp-1'],
  },
  {
    name: 'scheduler newer than its apiserver',
    cs: [api('cp-1', 'v1.33.0'), sched('cp-1', 'v1.34.0')],
    want: ['controller-newer:kube-scheduler@cp-1'],
  },
  {
    name: 'kcm talking to its local (upgraded) apiserver during an HA upgrade (kubeadm)',
    cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5'), kcm('cp-1', 'v1.34.0'), kcm('cp-2', 'v1.33.5')],
    want: [],
  },
  {
    name: 'kcm behind a load balancer is newer than the oldest apiserver',
    cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5'), kcm('cp-1', 'v1.34.0', 'any')],
    want: ['controller-newer:kube-controller-manager@cp-1'],
  },
  {
    name: 'cloud-controller-manager (any) one behind the newest',
    cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5'), ccm('cp-1', 'v1.33.0')],
    want: [],
  },
  {
    name: 'cloud-controller-manager (any) two behind the newest',
    cs: [api('cp-1', 'v1.34.0'), api('cp-2', 'v1.33.5'), ccm('cp-1', 'v1.32.0')],
    want: ['controller-too-old:cloud-controller-manager@cp-1'],
  },
  {
    name: 'unreadable version',
    cs: [api('cp-1', 'v1.34.0'), kubelet('w', 'latest')],
    want: ['unknown-version:kubelet@w'],
  },
  { name: 'nothing to judge without an apiserver', cs: [kubelet('w', 'v1.34.0')], want: [] },
]) {
  test(`checkSkew: ${tc.name}`, () => assert.deepEqual(rules(tc.cs), tc.want));
}

test('checkSkew: the message names both sides', () => {
  const [v] = checkSkew([api('cp-1', 'v1.33.5'), kubelet('worker-2', 'v1.34.3')]);
  assert.equal(v?.message, 'kubelet v1.34.3 on worker-2 is newer than kube-apiserver v1.33.5 on cp-1');
  assert.deepEqual(v?.against, { component: 'kube-apiserver', node: 'cp-1', version: 'v1.33.5' });
});

test('every rule has words', () => {
  for (const r of Object.keys(SKEW_RULES)) assert.ok((SKEW_RULES[r as SkewRule] ?? '').length > 10);
});

for (const tc of [
  { v: 'v1.24.17', want: { kubeletOlder: 2, kubeadmKubeletSkew: 1 } },
  { v: 'v1.25.0', want: { kubeletOlder: 3, kubeadmKubeletSkew: 1 } },
  { v: 'v1.28.15', want: { kubeletOlder: 3, kubeadmKubeletSkew: 1 } },
  { v: 'v1.29.0', want: { kubeletOlder: 3, kubeadmKubeletSkew: 3 } },
  { v: 'v1.35.2', want: { kubeletOlder: 3, kubeadmKubeletSkew: 3 } },
]) {
  test(`rulesFor ${tc.v}: one row of the table`, () => {
    const r = rulesFor(parseVersion(tc.v)!);
    assert.equal(r.kubeletOlder, tc.want.kubeletOlder);
    assert.equal(r.kubeadmKubeletSkew, tc.want.kubeadmKubeletSkew);
    assert.equal(r.controllerOlder, 1);
    assert.equal(r.apiserverSpread, 1);
  });
}

test('SKEW_POLICY rows are in release order', () => {
  const minors = SKEW_POLICY.map((r) => parseVersion(r.since)!.minor);
  assert.deepEqual(
    minors,
    [...minors].sort((a, b) => a - b),
  );
});

for (const tc of [
  { s: 'v1.34.3', want: 'v1.34.3' },
  { s: '1.34.3', want: 'v1.34.3' },
  { s: 'v1.34', want: 'v1.34.0' },
  { s: 'v1.35.0-rc.1', want: 'v1.35.0-rc.1' },
  { s: 'latest', want: undefined },
  { s: 'v1.x', want: undefined },
  { s: '', want: undefined },
]) {
  test(`parseVersion ${JSON.stringify(tc.s)}`, () => assert.equal(parseVersion(tc.s)?.text, tc.want));
}

const cluster = (cp: string, kubeletV: string): ComponentVersion[] => [
  api('cp-1', cp),
  kcm('cp-1', cp),
  sched('cp-1', cp),
  kubelet('cp-1', kubeletV),
  kubelet('w', kubeletV),
  proxy('w', cp),
];

for (const tc of [
  {
    name: 'control plane one minor up with kubelets one behind',
    before: cluster('v1.32.9', 'v1.32.9'),
    after: cluster('v1.33.5', 'v1.32.9'),
    want: [],
  },
  {
    name: 'control plane skipping a minor',
    before: cluster('v1.32.9', 'v1.32.9'),
    after: cluster('v1.34.3', 'v1.32.9'),
    want: ['apiserver-step'],
  },
  {
    name: 'control plane downgraded',
    before: cluster('v1.33.5', 'v1.32.9'),
    after: cluster('v1.33.1', 'v1.32.9'),
    want: ['apiserver-step'],
  },
  {
    name: 'control plane moving while a kubelet is three behind (it must move first)',
    before: cluster('v1.33.5', 'v1.30.14'),
    after: [
      ...cluster('v1.34.3', 'v1.31.0').filter((c) => c.node !== 'w'),
      kubelet('w', 'v1.30.14'),
      proxy('w', 'v1.34.3'),
    ],
    want: ['kubelet-too-old', 'kube-proxy-kubelet'],
  },
  {
    name: 'a kubelet moving to the control plane version',
    before: cluster('v1.34.3', 'v1.32.9'),
    after: [
      ...cluster('v1.34.3', 'v1.32.9').filter((c) => !(c.component === 'kubelet' && c.node === 'w')),
      kubelet('w', 'v1.34.3'),
    ],
    want: [],
  },
  {
    name: 'a kubelet moving past the control plane',
    before: cluster('v1.33.5', 'v1.32.9'),
    after: [
      ...cluster('v1.33.5', 'v1.32.9').filter((c) => !(c.component === 'kubelet' && c.node === 'w')),
      kubelet('w', 'v1.34.3'),
    ],
    want: ['kubelet-newer'],
  },
]) {
  test(`checkStep: ${tc.name}`, () => {
    const v = checkStep(tc.before, tc.after);
    assert.deepEqual(
      v.introduced.map((x) => x.rule),
      tc.want,
    );
    assert.equal(v.legal, tc.want.length === 0);
  });
}

test('checkStep: a violation that persists is remaining, not introduced; one repaired is repaired', () => {
  const before = [api('cp-1', 'v1.32.9'), api('cp-2', 'v1.32.9'), kubelet('w', 'v1.33.5')];
  const mid = [api('cp-1', 'v1.33.5'), api('cp-2', 'v1.32.9'), kubelet('w', 'v1.33.5')];
  const after = [api('cp-1', 'v1.33.5'), api('cp-2', 'v1.33.5'), kubelet('w', 'v1.33.5')];
  const first = checkStep(before, mid);
  assert.equal(first.legal, true);
  assert.deepEqual(
    first.remaining.map((x) => x.rule),
    ['kubelet-newer'],
  );
  const second = checkStep(mid, after);
  assert.equal(second.legal, true);
  assert.deepEqual(
    second.repaired.map((x) => x.rule),
    ['kubelet-newer'],
  );
  assert.deepEqual(second.remaining, []);
});

for (const tc of [
  { kubeadm: 'v1.28.15', target: 'v1.28.15', kubeletV: 'v1.27.16', want: [] },
  { kubeadm: 'v1.28.15', target: 'v1.28.15', kubeletV: 'v1.26.15', want: ['kubeadm-kubelet-skew'] },
  { kubeadm: 'v1.29.0', target: 'v1.29.0', kubeletV: 'v1.26.15', want: [] },
  { kubeadm: 'v1.34.3', target: 'v1.34.3', kubeletV: 'v1.31.0', want: [] },
  {
    kubeadm: 'v1.34.3',
    target: 'v1.34.3',
    kubeletV: 'v1.30.14',
    want: ['kubeadm-kubelet-skew', 'kubelet-too-old'],
  },
]) {
  test(`checkStep with kubeadm ${tc.kubeadm} and a kubelet at ${tc.kubeletV}`, () => {
    const prev = `v1.${parseVersion(tc.target)!.minor - 1}.0`;
    const v = checkStep(
      [api('cp-1', prev), kubelet('w', tc.kubeletV)],
      [api('cp-1', tc.target), kubelet('w', tc.kubeletV)],
      { kubeadm: tc.kubeadm },
    );
    assert.deepEqual(v.introduced.map((x) => x.rule).sort(), [...tc.want].sort());
  });
}
