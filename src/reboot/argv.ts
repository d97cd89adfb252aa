// Splits a command line the way a POSIX shell does for plain words, without running a shell:
// Kured reads --reboot-command and --reboot-sentinel-command with shlex.Split, and so does bosun.
// Whitespace separates words; 'single quotes' keep everything; "double quotes" keep everything but
// \" \\ \$ \` escapes; a backslash outside quotes escapes the next character. No variables, globs,
// pipes or redirections: a command that needs them says `sh -c '...'` itself. Pure.

/** The result of splitting: the words, or why the text is not a command line. */
export type SplitResult = { ok: true; argv: string[] } | { ok: false; error: string };

/** Splits `text` into argv words. */
export function splitCommandLine(text: string): SplitResult {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string))
        word += text[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\') {
      if (i + 1 >= text.length) return { ok: false, error: 'the command line ends with a lone backslash' };
      word += text[++i];
    } else word += c;
  }
  if (quote !== undefined)
    return { ok: false, error: `unterminated ${quote === "'" ? 'single' : 'double'} quote` };
  if (inWord) argv.push(word);
  return { ok: true, argv };
}
