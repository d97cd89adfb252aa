import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeTerminal, oneLine, safeOutput } from './terminal.ts';

for (const tc of [
  { name: 'plain text is unchanged', in: 'node/worker-1 cordoned: disk replacement', want: 'same' },
  { name: 'unicode letters are unchanged', in: 'Wartung für Knoten ✓', want: 'same' },
  { name: 'a tab is kept', in: 'a\tb', want: 'same' },
  { name: 'a newline is kept in a whole line', in: 'a\nb', want: 'same' },
  { name: 'ESC is shown as ^[, as kubectl does', in: 'x\x1b]0;owned\x07y', want: 'x^[]0;owned\\u0007y' },
  { name: 'CR is shown as \\r', in: 'ok\rFAKE', want: 'ok\\rFAKE' },
  { name: 'DEL and a C1 CSI are escaped', in: 'a\x7fb\u009b2J', want: 'a\\u007fb\\u009b2J' },
  { name: 'a bidi override is escaped', in: 'abc\u202edcba', want: 'abc\\u202edcba' },
  { name: 'NUL and backspace are escaped', in: 'a\x00b\x08', want: 'a\\u0000b\\u0008' },
]) {
  test(`escapeTerminal: ${tc.name}`, () => {
    assert.equal(escapeTerminal(tc.in), tc.want === 'same' ? tc.in : tc.want);
    // Escaping is idempotent: nothing it writes is escaped again.
    assert.equal(escapeTerminal(escapeTerminal(tc.in)), escapeTerminal(tc.in));
  });
}

test('oneLine shows a newline as \\n: a field never starts a line of its own', () => {
  assert.equal(oneLine('disk\nnode/worker-2 uncordoned'), 'disk\\nnode/worker-2 uncordoned');
  assert.equal(oneLine('a\tb'), 'a\tb');
});

test('safeOutput escapes every line on both streams and passes errRaw as it is', () => {
  const got: string[] = [];
  const out = safeOutput({
    out: (l) => void got.push(`out:${l}`),
    err: (l) => void got.push(`err:${l}`),
    errRaw: (t) => void got.push(`raw:${t}`),
    isTTY: true,
  });
  out.out('reason \x1b[31mred');
  out.err('pod\r');
  out.errRaw?.('\x1b[2A\x1b[J');
  assert.equal(out.isTTY, true);
  assert.deepEqual(got, ['out:reason ^[[31mred', 'err:pod\\r', 'raw:\x1b[2A\x1b[J']);
});

test('safeOutput has no errRaw when the Output has none', () => {
  const out = safeOutput({ out: () => undefined, err: () => undefined, isTTY: false });
  assert.equal(out.errRaw, undefined);
});
