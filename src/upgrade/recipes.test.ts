import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBosunError } from '../common/errors.ts';
import { APT_RECIPE, DNF_RECIPE, defaultRecipeFor, parseRecipe, renderLines } from './recipes.ts';
import { parseVersion } from './skew.ts';

const GOOD = `# my recipe
primary:
  - apt-get install -y kubeadm={debVersion}
  - kubeadm upgrade apply {version} -y
controlPlane: [kubeadm upgrade node]
worker: [kubeadm upgrade node]
kubelet:
  - apt-get install -y kubelet={debVersion}
  - systemctl restart kubelet
`;

test('parseRecipe reads the four lists', () => {
  const r = parseRecipe(GOOD, 'r.yaml');
  assert.deepEqual(r.controlPlane, ['kubeadm upgrade node']);
  assert.equal(r.kubelet.length, 2);
});

for (const tc of [
  { name: 'not YAML', text: 'primary: [a\n', err: /^recipe r\.yaml: not valid YAML: / },
  {
    name: 'a list at the top',
    text: '- a\n',
    err: /^recipe r\.yaml: expected a mapping with the keys primary, controlPlane, worker, kubelet$/,
  },
  { name: 'an unknown key', text: GOOD + 'workers: [x]\n', err: /^recipe r\.yaml: unknown key "workers"$/ },
  {
    name: 'a missing list',
    text: GOOD.replace(/worker: .*\n/, ''),
    err: /^recipe r\.yaml: missing the list "worker"$/,
  },
  {
    name: 'an empty list',
    text: GOOD.replace('worker: [kubeadm upgrade node]', 'worker: []'),
    err: /^recipe r\.yaml: "worker" must be a non-empty list of shell lines$/,
  },
  {
    name: 'a number line',
    text: GOOD.replace('worker: [kubeadm upgrade node]', 'worker: [3]'),
    err: /^recipe r\.yaml: worker\[0\] must be a non-empty string$/,
  },
  {
    name: 'an unknown placeholder',
    text: GOOD.replace('{version} -y', '{Version} -y'),
    err: /^recipe r\.yaml: primary\[1\] uses the unknown placeholder \{Version\} \(known: \{version\} \{minor\} \{debVersion\} \{rpmVersion\} \{node\}\)$/,
  },
]) {
  test(`parseRecipe refuses ${tc.name} in one line, exit 2`, () =>
    assert.throws(
      () => parseRecipe(tc.text, 'r.yaml'),
      (e) => isBosunError(e) && e.exitCode === 2 && tc.err.test(e.message) && !e.message.includes('\n'),
    ));
}

test('renderLines fills every placeholder', () => {
  assert.deepEqual(
    renderLines(
      ['{version} {minor} {debVersion} {rpmVersion} {node} {other}'],
      parseVersion('v1.34.1')!,
      'worker-2',
    ),
    ['v1.34.1 v1.34 1.34.1-1.1 1.34.1-150500.1.1 worker-2 {other}'],
  );
});

test('the default recipes switch the repository to the hop minor before installing', () => {
  for (const r of [APT_RECIPE, DNF_RECIPE])
    for (const role of ['primary', 'controlPlane', 'worker', 'kubelet'] as const) {
      assert.match(
        r[role][0] ?? '',
        /^sed -i 's#\/core:\/stable:\/v\[0-9\]\[0-9\.\]\*\/(deb|rpm)\/#\/core:\/stable:\/\{minor\}\/\1\/#g?' \/etc\//,
      );
      assert.ok(r[role].some((l) => /install -y/.test(l)));
    }
  assert.ok(APT_RECIPE.kubelet.includes('apt-mark hold kubelet kubectl'));
});

for (const tc of [
  { os: 'Debian GNU/Linux 12 (bookworm)', want: 'apt' },
  { os: 'Ubuntu 24.04.1 LTS', want: 'apt' },
  { os: 'Rocky Linux 9.4 (Blue Onyx)', want: 'dnf' },
  { os: 'Red Hat Enterprise Linux 9.4 (Plow)', want: 'dnf' },
  { os: 'Amazon Linux 2023.6.20241212', want: 'dnf' },
  { os: 'Flatcar Container Linux by Kinvolk 4081.2.0', want: undefined },
]) {
  test(`defaultRecipeFor ${tc.os}`, () => assert.equal(defaultRecipeFor(tc.os)?.source, tc.want));
}
