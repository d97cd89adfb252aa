import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { expandTemplate, parseExecTemplate, shellJoin, shellQuote, splitShellWords } from './shell.ts';

/** The words a real POSIX shell makes of line (what a remote shell does with ssh's joined line). */
function shWords(line: string): string[] {
  const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  for (const tc of [
    { word: 'apt-get', want: 'apt-get' },
    { word: 'kubelet=1.34.1-1.1', want: 'kubelet=1.34.1-1.1' },
    { word: '', want: "''" },
    { word: 'a b', want: "'a b'" },
    { word: "it's", want: "'it'\\''s'" },
    { word: '$HOME', want: "'$HOME'" },
    { word: 'reboot; exit 255', want: "'reboot; exit 255'" },
  ]) {
    test(`${JSON.stringify(tc.word)} -> ${tc.want}`, () => assert.equal(shellQuote(tc.word), tc.want));
  }
  test('a real shell reads shellJoin back into the same words', () => {
    const argv = ['sh', '-c', `echo "E: can't lock" >&2; exit 3`, '', 'a  b', '\\', '*', '$(id)', '\n'];
    assert.deepEqual(shWords(shellJoin(argv)), argv);
  });
});

describe('splitShellWords', () => {
  for (const tc of [
    { line: 'ssh {node} sudo {command}', want: ['ssh', '{node}', 'sudo', '{command}'] },
    { line: '  a\tb  ', want: ['a', 'b'] },
    {
      line: `ssh -o 'ProxyCommand=ssh -W %h:%p bastion' {node}`,
      want: ['ssh', '-o', 'ProxyCommand=ssh -W %h:%p bastion', '{node}'],
    },
    { line: `sh -c "cd / && {command}"`, want: ['sh', '-c', 'cd / && {command}'] },
    { line: `a"b c"'d e'f`, want: ['ab cd ef'] },
    { line: `"\\$x \\" \\\\ \\n"`, want: ['$x " \\ \\n'] },
    { line: `a\\ b ''`, want: ['a b', ''] },
    { line: `$HOME ~ *`, want: ['$HOME', '~', '*'] },
  ]) {
    test(`${JSON.stringify(tc.line)}`, () =>
      assert.deepEqual(splitShellWords(tc.line), { ok: true, words: tc.want }));
  }
  for (const tc of [
    { line: `ssh 'x`, error: "unterminated ' quote at column 5" },
    { line: `ssh "x`, error: 'unterminated " quote at column 5' },
    { line: `ssh x\\`, error: 'a backslash ends the line' },
  ]) {
    test(`${JSON.stringify(tc.line)} is refused: ${tc.error}`, () =>
      assert.deepEqual(splitShellWords(tc.line), { ok: false, error: tc.error }));
  }
  test('splits as a real shell does (without expansions)', () => {
    const line = `ssh -o 'A B' "c \\"d\\"" e\\ f ''`;
    assert.deepEqual(splitShellWords(line), { ok: true, words: shWords(line) });
  });
});

describe('--exec templates', () => {
  for (const tc of [
    {
      text: 'ssh {node} sudo',
      error: 'the template has neither {command} nor {argv}: where does the command go?',
    },
    { text: '', error: 'the template is empty' },
    { text: '   ', error: 'the template is empty' },
    {
      text: 'nsenter -- x{argv}',
      error: '{argv} must be a word of its own (it becomes several words); use {command} inside a word',
    },
    {
      text: '{command}',
      error: 'the template must start with the program that carries the command (e.g. ssh)',
    },
    { text: `ssh '{node} {command}`, error: "unterminated ' quote at column 5" },
  ]) {
    test(`${JSON.stringify(tc.text)} is refused: ${tc.error}`, () =>
      assert.deepEqual(parseExecTemplate(tc.text), { ok: false, error: tc.error }));
  }

  const expand = (text: string, argv: string[]): string[] => {
    const t = parseExecTemplate(text);
    assert.ok(t.ok, t.ok ? '' : t.error);
    return expandTemplate(t.template, 'worker-2', argv);
  };

  test('{command} is one shell-quoted word; {node} is replaced in every word', () =>
    assert.deepEqual(
      expand('ssh admin@{node}.lan sudo {command}', ['apt-get', 'install', '-y', 'kubelet=1.34.1-1.1']),
      ['ssh', 'admin@worker-2.lan', 'sudo', 'apt-get install -y kubelet=1.34.1-1.1'],
    ));

  test('{argv} becomes the command words, unquoted', () =>
    assert.deepEqual(expand('nsenter -t 1 -m -- {argv}', ['sh', '-c', 'echo a; reboot']), [
      'nsenter',
      '-t',
      '1',
      '-m',
      '--',
      'sh',
      '-c',
      'echo a; reboot',
    ]));

  test("through ssh: the remote shell gets sudo and exactly the command's words back", () => {
    const command = ['sh', '-c', `echo "it's {node}" >&2; reboot; exit 255`];
    const words = expand('ssh {node} sudo {command}', command);
    // ssh joins its arguments after the host with spaces into one line for the remote shell.
    const remoteLine = words.slice(2).join(' ');
    assert.deepEqual(shWords(remoteLine), ['sudo', ...command]);
  });

  test('{command} inside a word of a shell the template runs itself', () => {
    const words = expand(`sh -c 'cd / && {command}'`, ['printf', '%s|', 'a b', "c'd"]);
    const r = spawnSync(words[0] ?? '', words.slice(1), { encoding: 'utf8' });
    assert.equal(r.stdout, "a b|c'd|");
  });

  test('a node name or command that contains a placeholder is not expanded again', () =>
    assert.deepEqual(expand('ssh {node} {command}', ['echo', '{node}']), [
      'ssh',
      'worker-2',
      "echo '{node}'",
    ]));
});
