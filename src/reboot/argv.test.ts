import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitCommandLine } from './argv.ts';

for (const tc of [
  { in: 'systemctl reboot', want: ['systemctl', 'reboot'] },
  { in: '  /bin/systemctl   reboot  ', want: ['/bin/systemctl', 'reboot'] },
  {
    in: `sh -c 'test -f /var/run/reboot-required && ! pgrep apt'`,
    want: ['sh', '-c', 'test -f /var/run/reboot-required && ! pgrep apt'],
  },
  { in: 'echo "a \\"quoted\\" $word"', want: ['echo', 'a "quoted" $word'] },
  { in: 'echo "back\\slash"', want: ['echo', 'back\\slash'] },
  { in: 'a\\ b c', want: ['a b', 'c'] },
  { in: `''`, want: [''] },
  { in: 'x""y', want: ['xy'] },
  { in: '', want: [] },
]) {
  test(`splitCommandLine(${JSON.stringify(tc.in)})`, () => {
    const r = splitCommandLine(tc.in);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.deepEqual(r.argv, tc.want);
  });
}

for (const tc of [
  { in: `sh -c 'oops`, error: 'unterminated single quote' },
  { in: 'echo "oops', error: 'unterminated double quote' },
  { in: 'echo \\', error: 'the command line ends with a lone backslash' },
]) {
  test(`splitCommandLine refuses ${JSON.stringify(tc.in)}: ${tc.error}`, () =>
    assert.deepEqual(splitCommandLine(tc.in), { ok: false, error: tc.error }));
}
