// The `sed` shim of a sandbox node: GNU sed's substitute command (s/RE/REPLACEMENT/FLAGS), in place
// (-i) or to stdout, on the node's own files. Recipes change a node's package repository with it
// (kubeadm's upgrade guide: point /etc/apt/sources.list.d/kubernetes.list at the next minor), and
// the real sed on this machine would edit this machine's /etc instead of the simulated node's.
// Absolute paths are the node's (mapped into its host directory); relative paths are refused.
// Only `s` commands are implemented: anything else fails with a message that says so, never with
// a silently different result.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { HostLayout } from '../layout.ts';
import { writeAtomic } from './host.ts';

/** Output of the shim. */
interface SedIO {
  out(text: string): void;
  err(text: string): void;
}

interface Substitution {
  re: RegExp;
  /** Replacement parts: literal text, a group number (0 = the whole match). */
  parts: (string | number)[];
  global: boolean;
}

const POSIX_CLASSES: Record<string, string> = {
  digit: '0-9',
  alpha: 'A-Za-z',
  alnum: '0-9A-Za-z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
};

/** A bracket expression from `i` (at '['): its JS form and where it ends. */
function bracket(src: string, i: number): { js: string; end: number } {
  let j = i + 1;
  let js = '[';
  if (src[j] === '^') {
    js += '^';
    j++;
  }
  if (src[j] === ']') {
    js += '\\]';
    j++;
  }
  while (j < src.length && src[j] !== ']') {
    const cls = /^\[:([a-z]+):\]/.exec(src.slice(j));
    if (cls?.[1] && POSIX_CLASSES[cls[1]] !== undefined) {
      js += POSIX_CLASSES[cls[1]];
      j += cls[0].length;
      continue;
    }
    const c = src[j] ?? '';
    // A backslash is literal inside a POSIX bracket expression; in JS it escapes.
    js += c === '\\' || c === '[' ? `\\${c}` : c;
    j++;
  }
  if (j >= src.length) throw new SedError('unterminated address regex');
  return { js: js + ']', end: j + 1 };
}

/** Translates a POSIX basic (or, with -E, extended) regular expression to a JS one. */
export function posixToJs(src: string, extended: boolean): string {
  let js = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i] ?? '';
    if (c === '[') {
      const b = bracket(src, i);
      js += b.js;
      i = b.end - 1;
      continue;
    }
    if (c === '\\') {
      const n = src[i + 1];
      i++;
      if (n === undefined) throw new SedError('trailing backslash (\\)');
      if (!extended && '(){}+?|'.includes(n)) js += n;
      else if (n === 'n') js += '\\n';
      else if (n === 't') js += '\\t';
      else if (/[0-9]/.test(n)) js += `\\${n}`;
      else if (/[wWsSbB]/.test(n)) js += `\\${n}`;
      else js += /[A-Za-z0-9]/.test(n) ? n : `\\${n}`;
      continue;
    }
    if (!extended && '(){}+?|'.includes(c)) js += `\\${c}`;
    else js += c;
  }
  return js;
}

/** A sed usage or script error: GNU sed's message, exit code 1. */
class SedError extends Error {}

/** Reads up to the next unescaped delimiter; `\delim` becomes the delimiter itself. */
function field(
  script: string,
  i: number,
  delim: string,
  keepEscapes: boolean,
): { text: string; end: number } {
  let text = '';
  for (let j = i; j < script.length; j++) {
    const c = script[j] ?? '';
    if (c === '\\' && j + 1 < script.length) {
      const n = script[j + 1] ?? '';
      text += n === delim && delim !== '\\' ? n : keepEscapes ? `\\${n}` : n;
      j++;
      continue;
    }
    if (c === '[' && keepEscapes && delim !== '[') {
      // The delimiter may appear inside a bracket expression without ending the field.
      const close = script.indexOf(']', j + (script[j + 1] === '^' ? 3 : 2));
      if (close > 0) {
        text += script.slice(j, close + 1);
        j = close;
        continue;
      }
    }
    if (c === delim) return { text, end: j };
    text += c;
  }
  throw new SedError(`unterminated \`s' command`);
}

function replacementParts(text: string): (string | number)[] {
  const parts: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === '&') {
      parts.push(lit, 0);
      lit = '';
    } else if (c === '\\' && i + 1 < text.length) {
      const n = text[++i] ?? '';
      if (/[1-9]/.test(n)) {
        parts.push(lit, Number(n));
        lit = '';
      } else lit += n === 'n' ? '\n' : n === 't' ? '\t' : n;
    } else lit += c;
  }
  parts.push(lit);
  return parts.filter((p) => p !== '');
}

/** Parses a script of `s` commands separated by `;` or newlines. */
export function parseSedScript(script: string, extended: boolean): Substitution[] {
  const out: Substitution[] = [];
  let i = 0;
  while (i < script.length) {
    const c = script[i] ?? '';
    if (c === ';' || c === '\n' || c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c !== 's')
      throw new SedError(
        `-e expression #1, char ${i + 1}: the sandbox's sed shim runs s/REGEX/REPLACEMENT/FLAGS commands only, not "${c}"`,
      );
    const delim = script[i + 1];
    if (delim === undefined || delim === '\n' || delim === '\\')
      throw new SedError(`-e expression #1, char ${i + 2}: unterminated \`s' command`);
    const pat = field(script, i + 2, delim, true);
    const rep = field(script, pat.end + 1, delim, true);
    let j = rep.end + 1;
    let flags = '';
    while (j < script.length && /[gIi0-9p]/.test(script[j] ?? '')) flags += script[j++];
    if (/[0-9p]/.test(flags))
      throw new SedError(
        `-e expression #1, char ${j}: the sandbox's sed shim supports the g and I flags only`,
      );
    let re: RegExp;
    try {
      re = new RegExp(posixToJs(pat.text, extended), flags.includes('I') || flags.includes('i') ? 'gi' : 'g');
    } catch (e) {
      throw new SedError(`-e expression #1, char ${j}: ${e instanceof Error ? e.message : String(e)}`);
    }
    out.push({ re, parts: replacementParts(rep.text), global: flags.includes('g') });
    i = j;
  }
  return out;
}

/** Applies the substitutions to every line of text, as sed does. */
export function applySed(text: string, subs: readonly Substitution[]): string {
  const trailing = text.endsWith('\n');
  const lines = (trailing ? text.slice(0, -1) : text).split('\n');
  const out = lines.map((line) => {
    let l = line;
    for (const s of subs) {
      let done = false;
      l = l.replace(s.re, (...m: unknown[]) => {
        if (done) return String(m[0]);
        if (!s.global) done = true;
        return s.parts.map((p) => (typeof p === 'number' ? String(m[p] ?? '') : p)).join('');
      });
    }
    return l;
  });
  return out.join('\n') + (trailing ? '\n' : '');
}

/** Runs `sed ARGS` on the node whose root is host; resolves with sed's exit code. */
export function runSed(host: HostLayout, args: readonly string[], io: SedIO): number {
  let inPlace = false;
  let extended = false;
  const scripts: string[] = [];
  const positional: string[] = [];
  try {
    for (let i = 0; i < args.length; i++) {
      const a = args[i] ?? '';
      if (a === '--') {
        positional.push(...args.slice(i + 1));
        break;
      }
      if (a === '-i' || a.startsWith('--in-place') || /^-i[^-]/.test(a)) inPlace = true;
      else if (a === '-E' || a === '-r' || a === '--regexp-extended') extended = true;
      else if (a === '-e' || a === '--expression') scripts.push(args[++i] ?? '');
      else if (a.startsWith('--expression=')) scripts.push(a.slice('--expression='.length));
      else if (a.startsWith('-') && a !== '-')
        throw new SedError(
          `invalid option -- '${a.replace(/^-+/, '')}' (the sandbox's sed shim knows -i, -e, -E)`,
        );
      else positional.push(a);
    }
    // Without -e, the first operand is the script (GNU sed).
    if (scripts.length === 0 && positional.length > 0) scripts.push(positional.shift() ?? '');
    const files = positional;
    if (scripts.length === 0) throw new SedError('no script specified');
    const subs = parseSedScript(scripts.join('\n'), extended);
    if (files.length === 0)
      throw new SedError("the sandbox's sed shim cannot read stdin: name the node's file (an absolute path)");
    let code = 0;
    for (const f of files) {
      if (!f.startsWith('/')) {
        io.err(`sed: ${f}: use an absolute path: the sandbox node's files are under its host directory\n`);
        code = 2;
        continue;
      }
      const mapped = resolve(host.path(f));
      if (mapped !== host.root && !mapped.startsWith(`${resolve(host.root)}/`)) {
        io.err(`sed: can't read ${f}: No such file or directory\n`);
        code = 2;
        continue;
      }
      if (!existsSync(mapped) || !statSync(mapped).isFile()) {
        io.err(`sed: can't read ${f}: No such file or directory\n`);
        code = 2;
        continue;
      }
      const text = applySed(readFileSync(mapped, 'utf8'), subs);
      if (inPlace) writeAtomic(mapped, text, statSync(mapped).mode & 0o777);
      else io.out(text);
    }
    return code;
  } catch (e) {
    if (!(e instanceof SedError)) throw e;
    io.err(`sed: ${e.message}\n`);
    return 1;
  }
}
