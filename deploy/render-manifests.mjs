// Renders deploy/manifests/bosun.yaml, the plain manifests for users without Helm, from the chart
// in deploy/helm/bosun with its default values, with the real helm (extracted by scripts/peers.mjs).
//   node deploy/render-manifests.mjs           write the file
//   node deploy/render-manifests.mjs --check   exit 1 when the file is not what the chart renders
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractPeers, peersDir } from '../scripts/peers.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chart = join(root, 'deploy', 'helm', 'bosun');
const out = join(root, 'deploy', 'manifests', 'bosun.yaml');
const namespace = 'bosun-system';

/** The manifests as the chart renders them today. */
export async function renderManifests() {
  const helm = join(peersDir, 'helm');
  if (!existsSync(helm)) await extractPeers();
  const r = spawnSync(helm, ['template', 'bosun', chart, '--namespace', namespace], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr || r.error?.message}`);
  return [
    '# The bosun reboot agent, rendered from deploy/helm/bosun with its default values',
    '# (node deploy/render-manifests.mjs; do not edit by hand). Apply with',
    '#   kubectl apply -f deploy/manifests/bosun.yaml',
    '---',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata:',
    `  name: ${namespace}`,
    r.stdout.replace(/^\n+/, '').trimEnd(),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await renderManifests();
  if (process.argv.includes('--check')) {
    const current = existsSync(out) ? readFileSync(out, 'utf8') : '';
    if (current !== text) {
      console.error(
        'deploy/manifests/bosun.yaml is not what the chart renders: run node deploy/render-manifests.mjs',
      );
      process.exit(1);
    }
  } else {
    writeFileSync(out, text);
  }
}
