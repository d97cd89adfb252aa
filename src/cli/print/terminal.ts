// Text bosun did not write (a cordon --reason, annotations, event and condition messages, pod and
// node names, a work command's output, file names) must not reach a terminal as control
// characters: an ESC sequence can retitle the window, move the cursor over earlier lines, or hide
// what follows. kubectl escapes ESC and CR in its printers (cli-runtime printers/terminal.go,
// kubernetes#101695); bosun escapes every C0 and C1 control character, DEL, and the Unicode
// bidirectional overrides, in a visible form, so a reader sees that something was there.
//
// runCli wraps every command's Output in safeOutput(), so no printer can forget it; a line may
// still hold newlines (a YAML document is one write), but one table cell or one field never does.
import type { Output } from '../../common/ports.ts';

// Tab and newline are handled by the caller's choice; everything else in C0, DEL, C1, and the
// bidi embedding/override/isolate controls (the "Trojan Source" characters) is escaped.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE_ONE_LINE = /[\u0000-\u0008\n\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  switch (c) {
    case '\u001b':
      return '^['; // kubectl's spelling
    case '\r':
      return '\\r';
    case '\n':
      return '\\n';
    default:
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/**
 * The text with every control character a terminal would act on shown as a visible escape
 * (ESC as ^[, CR as \r, others as \uXXXX). Newlines are kept unless `oneLine`; tabs are kept.
 * Text without such characters comes back unchanged, so escaping twice changes nothing.
 */
export function escapeTerminal(text: string, opts: { oneLine?: boolean } = {}): string {
  return text.replace(opts.oneLine ? UNSAFE_ONE_LINE : UNSAFE, visible);
}

/** One field printed inside a line (a reason, a name, a table cell): no newline either. */
export function oneLine(text: string): string {
  return escapeTerminal(text, { oneLine: true });
}

/**
 * An Output whose every line is escaped with escapeTerminal before it is written. errRaw, bosun's
 * own cursor movement for the live progress block, passes as it is.
 */
export function safeOutput(out: Output): Output {
  const raw = out.errRaw?.bind(out);
  return {
    out: (line) => out.out(escapeTerminal(line)),
    err: (line) => out.err(escapeTerminal(line)),
    isTTY: out.isTTY,
    ...(raw ? { errRaw: raw } : {}),
  };
}

/** May progress be a live block redrawn in place on stderr (a terminal that is not dumb)? */
export function isLive(out: Output, env: Readonly<Record<string, string | undefined>>): boolean {
  return out.isTTY && out.errRaw !== undefined && env['TERM'] !== 'dumb';
}
