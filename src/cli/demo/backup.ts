// The demo's "save game" chapter: before anything is touched, etcd is backed up with the real
// `bosun backup` (the sandbox's etcd members, cp-1's kubeadm PKI), the backup is verified down to
// a trial restore into a throwaway etcd, and listed. Runs the commands exactly as a user types
// them (the same program, in this process), from the sandbox directory, into DIR/backups.
import { join, relative } from 'node:path';
import { BosunError } from '../../common/errors.ts';
import type { DemoChapter } from './context.ts';

/** Where the chapter keeps its backups, relative to the sandbox directory. */
export const DEMO_BACKUP_DIR = 'backups';

/** The backup chapter: take, verify (with a trial restore), list. */
export const backupChapter: DemoChapter = {
  title: 'Save game: back up etcd first',
  async run(d) {
    const sb = d.sandbox;
    const endpoints = sb.nodes
      .filter((n) => n.role === 'control-plane')
      .map((n) => `https://127.0.0.1:${n.etcdClientPort ?? 0}`);
    const firstCp = sb.nodes.find((n) => n.role === 'control-plane')?.name ?? 'cp-1';
    const pki = relative(sb.layout.dir, sb.layout.host(firstCp).pki);
    d.say(
      'Before anything is touched, back up etcd: every object of the cluster, Secrets included. bosun streams',
    );
    d.say(
      "etcd's own snapshot over TLS with the node's kubeadm certificates, verifies it, and only then gives it a",
    );
    d.say(
      `name (mode 0600, with a sidecar).${endpoints.length > 1 ? ' Of several members it picks a healthy one that is not lagging.' : ''}`,
    );
    const { out: saved } = await d.bosun([
      'backup',
      '--endpoints',
      endpoints.join(','),
      '--pki-dir',
      pki,
      '--dir',
      DEMO_BACKUP_DIR,
    ]);
    const file = saved.map((l) => /^backup (.+) saved \(/.exec(l)?.[1]).find((f) => f !== undefined);
    if (file === undefined) throw new BosunError('bosun backup did not say which file it saved', 'INTERNAL');
    const rel = relative(sb.layout.dir, file);
    d.say('');
    d.say(
      'A backup is only as good as its restore: check the sha256 trailer and every bbolt page, then restore it',
    );
    d.say('into a throwaway etcd and compare the revision and key count:');
    await d.bosun(['backup', 'verify', rel, '--trial-restore']);
    d.say('');
    d.say(
      'The backups on hand (retention with --keep / --keep-within prunes only verified ones bosun wrote):',
    );
    await d.bosun(['backup', 'list', '--dir', DEMO_BACKUP_DIR]);
    d.say('');
    d.say(
      `If maintenance goes wrong: bosun sandbox restore --dir ${sb.layout.dir} ${join(sb.layout.dir, rel)}`,
    );
  },
};
