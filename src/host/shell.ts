// Shell words, both ways, and the --exec template. Quoting turns argv into one line that a POSIX
// shell parses back into the same argv (what `ssh HOST LINE` hands to the remote shell); splitting
// reads a template the way sh reads words (quotes and backslashes, no expansions). A template is a
// command line with placeholders: {node} (the node's name, anywhere in a word), {command} (the
// command as ONE shell-quoted word, anywhere in a word: it survives ssh's joining of its arguments
// into a remote shell line) and {argv} (the command's words as separate arguments, only as a
// whole word: for programs that exec without a shell, as nsenter, kubectl exec or docker exec do).
// Pure: no I/O.

/** Characters that never need quoting in a POSIX shell word. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word, quoted for a POSIX shell only when it needs it (single quotes; ' as '\''). */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** argv as one shell line that parses back into the same words. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** The result of splitting a line into words. */
export type SplitResult = { ok: true; words: string[] } | { ok: false; error: string };

/**
 * Splits a line into words as a POSIX shell does before expansions: blanks separate words; '...'
 * keeps everything literally; "..." keeps everything but \\ before $ ` " \\ or a newline; a
 * backslash outside quotes keeps the next character. Nothing is expanded ($VAR, globs and ~ stay
 * as written). An unterminated quote or a trailing backslash is an error.
 */
export function splitShellWords(line: string): SplitResult {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? '';
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `unterminated ' quote at column ${i + 1}` };
      word += line.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        const c = line[j] ?? '';
        const next = line[j + 1];
        if (c === '\\' && next !== undefined && '$`"\\\n'.includes(next)) {
          if (next !== '\n') word += next;
          j++;
        } else word += c;
      }
      if (j >= line.length) return { ok: false, error: `unterminated " quote at column ${i + 1}` };
      i = j;
    } else if (ch === '\\') {
      const next = line[i + 1];
      if (next === undefined) return { ok: false, error: 'a backslash ends the line' };
      if (next !== '\n') word += next;
      else if (word === '') inWord = false;
      i++;
    } else word += ch;
  }
  if (inWord) words.push(word);
  return { ok: true, words };
}

/** A parsed --exec template. */
export interface ExecTemplate {
  /** The template as the user wrote it. */
  text: string;
  /** Its words, placeholders not yet replaced. */
  words: readonly string[];
}

/** The placeholders a template knows. */
export const TEMPLATE_PLACEHOLDERS = ['{node}', '{command}', '{argv}'] as const;

/** Parses an --exec template; an error says what is wrong with it. */
export function parseExecTemplate(
  text: string,
): { ok: true; template: ExecTemplate } | { ok: false; error: string } {
  const split = splitShellWords(text);
  if (!split.ok) return split;
  const words = split.words;
  if (words.length === 0) return { ok: false, error: 'the template is empty' };
  const uses = (p: string): boolean => words.some((w) => w.includes(p));
  if (!uses('{command}') && !uses('{argv}'))
    return { ok: false, error: 'the template has neither {command} nor {argv}: where does the command go?' };
  if (words.some((w) => w.includes('{argv}') && w !== '{argv}'))
    return {
      ok: false,
      error: '{argv} must be a word of its own (it becomes several words); use {command} inside a word',
    };
  if (words[0]?.includes('{command}') || words[0] === '{argv}')
    return {
      ok: false,
      error: 'the template must start with the program that carries the command (e.g. ssh)',
    };
  return { ok: true, template: { text, words } };
}

/**
 * The template's argv for one node and command: {node} replaced everywhere, {command} by the
 * command's shell-quoted line (shellJoin), each {argv} word by the command's words.
 */
export function expandTemplate(t: ExecTemplate, node: string, argv: readonly string[]): string[] {
  const line = shellJoin(argv);
  const out: string[] = [];
  for (const w of t.words) {
    if (w === '{argv}') {
      out.push(...argv);
      continue;
    }
    // One pass over the word, so a node name or a command containing "{command}" is not expanded again.
    out.push(w.replace(/\{node\}|\{command\}/g, (m) => (m === '{node}' ? node : line)));
  }
  return out;
}
