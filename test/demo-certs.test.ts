// The demo's certificates chapter against a test sandbox shaped like the demo's (three control
// planes): it runs to the end, its narration says that the near expiry was made by the demo, the
// check flags the two certificates, and the servers present new certificates afterwards, which the
// test checks on its own (the table's serials, the files on disk, openssl s_client).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { certsChapter } from '../src/cli/demo/certs.ts';
import { createDemoContext, type DemoContext } from '../src/cli/demo/run.ts';
import { runCli } from '../src/cli/program.ts';
import { captureCtx } from './support/etcd-backup.ts';
import { run, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const DAY = 86_400_000;

async function serialOf(pem: string): Promise<string> {
  const r = await run('openssl', ['x509', '-noout', '-serial'], { input: pem });
  return (/serial=([0-9A-F]+)/i.exec(r.stdout)?.[1] ?? '').toUpperCase();
}

async function servedSerial(port: number): Promise<string> {
  const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`], {
    input: '',
    timeoutMs: 20_000,
  });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  assert.ok(pem, r.stderr);
  return serialOf(pem);
}

let s: TestSandbox;
before(async () => {
  s = await startTestSandbox({ controlPlanes: 3, workers: 0 });
});
after(async () => {
  await s?.stop();
});

test('certsChapter: checked, two made to expire soon and flagged, renewed, the served certificates change', async () => {
  const cp1 = s.sb.nodes.find((n) => n.name === 'cp-1');
  const apiPort = cp1?.apiserverPort ?? 0;
  const pki = join(s.dir, 'nodes/cp-1/host/etc/kubernetes/pki');
  const servedFirst = await servedSerial(apiPort);

  const c = captureCtx({ cwd: s.dir });
  const lines: string[] = [];
  const d: DemoContext = createDemoContext({
    cli: c.ctx,
    runCli,
    sandbox: s.sb,
    heading: (t) => void lines.push(`== ${t}`),
    say: (l) => void lines.push(`say: ${l}`),
    show: (l) => void lines.push(`show: ${l}`),
  });
  await certsChapter.run(d);
  const text = lines.join('\n');

  assert.match(certsChapter.title, /^Certificates/);
  // The first table: kubeadm's columns, every certificate fine.
  assert.match(
    text,
    /^show: CERTIFICATE +EXPIRES +RESIDUAL TIME +CERTIFICATE AUTHORITY +EXTERNALLY MANAGED +STATUS$/m,
  );
  assert.match(text, /^show: apiserver +\S.* ok$/m);
  // Honest about the setup.
  assert.match(text, /re-issues apiserver and etcd-server on cp-1 with a 5-day validity/);
  // Flagged with check's exit code.
  assert.match(text, /^show: apiserver +.* +4d +ca +no +expiring$/m);
  assert.match(text, /^show: etcd-server +.* +4d +etcd-ca +no +expiring$/m);
  assert.match(text, /^show: exit code 3: 2 certificates expire within 30d: apiserver, etcd-server$/m);
  // The renewal's own output, and the restart's.
  assert.match(text, /^show: apiserver renewed \(expires /m);
  assert.match(text, /^say: \[restart\] etcd-cp-1: Ready$/m);
  assert.match(text, /^show: Certificates renewed and served on cp-1\./m);
  assert.match(text, /cp-2 and cp-3 are renewed the same way, each on its own node/);

  // The before/after table: different serials, a year left afterwards.
  const table = lines.filter((l) => /^show: (SERVER|kube-apiserver|etcd-client) /.test(l));
  assert.equal(table.length, 3, text);
  for (const row of table.slice(1)) {
    const cells = row.replace(/^show: /, '').split(/ {3,}/);
    assert.equal(cells.length, 6, row);
    assert.notEqual(cells[2], cells[4], row);
    assert.ok(new Date(cells[5] ?? '').getTime() - Date.now() > 364 * DAY, row);
  }
  // Checked without the chapter's help: what kube-apiserver serves is the file on disk, and new.
  const servedNow = await servedSerial(apiPort);
  assert.equal(servedNow, await serialOf(readFileSync(join(pki, 'apiserver.crt'), 'utf8')));
  assert.notEqual(servedNow, servedFirst);
  const apiRow = table.find((l) => l.startsWith('show: kube-apiserver')) ?? '';
  assert.equal(
    apiRow
      .replace(/^show: /, '')
      .split(/ {3,}/)[4]
      ?.toUpperCase()
      .replace(/^0+/, ''),
    servedNow.replace(/^0+/, ''),
  );
});
