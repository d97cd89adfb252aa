// The demo's "save game" chapter: before anything is touched, etcd is backed up with the real
// `bosun backup` (the sandbox's etcd members, cp-1's kubeadm PKI), the backup is verified down to
// a trial restore into a throwaway etcd, and listed. Runs the commands exactly as a user types
// them (the same program, in this process), from the sandbox directory, into DIR/backups.
import { join, relative } from 'node:path';
import { BosunError } from '../../common/errors.ts';
import type { CliContext } from '../context.ts';
import type { DemoChapter, DemoContext } from './run.ts';

/** Where the chapter keeps its backups, relative to the sandbox directory. */
export const DEMO_BACKUP_DIR = 'backups';

/** Runs `bosun ARGS` from the sandbox directory, showing the command and what it prints; returns stdout. */
async function bosun(d: DemoContext, args: string[]): Promise<string[]> {
  const { runCli } = await import('../program.ts');
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    ...d.cli,
    cwd: d.sandbox.layout.dir,
    out: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false },
  };
  d.show(`$ bosun ${args.join(' ')}`);
  const code = await runCli(args, ctx);
  for (const l of err) d.show(`  ${l}`);
  for (const l of out) d.show(l);
  if (code !== 0) {
    const why = err
      .filter((l) => l.startsWith('error: '))
      .map((l) => l.slice(7))
      .join('; ');
    const words = args.slice(
      0,
      Math.max(
        1,
        args.findIndex((a) => a.startsWith('-')),
      ),
    );
    throw new BosunError(`bosun ${words.join(' ')} exited with ${code}${why ? `: ${why}` : ''}`, 'INTERNAL');
  }
  return out;
}

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
    const saved = await bosun(d, [
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
    await bosun(d, ['backup', 'verify', rel, '--trial-restore']);
    d.say('');
    d.say(
      'The backups on hand (retention with --keep / --keep-within prunes only verified ones bosun wrote):',
    );
    await bosun(d, ['backup', 'list', '--dir', DEMO_BACKUP_DIR]);
    d.say('');
    d.say(
      `If maintenance goes wrong: bosun sandbox restore --dir ${sb.layout.dir} ${join(sb.layout.dir, rel)}`,
    );
  },
};
