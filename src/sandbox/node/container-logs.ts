// Container logs as the kubelet keeps and serves them: /var/log/pods/NS_POD_UID/CONTAINER/N.log in
// the CRI format (`2026-01-01T00:00:00.000Z stdout F the line`, P for a partial line), one file per
// container instance (N = its restartCount), served by the kubelet's /containerLogs endpoint, which
// kube-apiserver's pods/log proxies to: the text of the lines, with timestamps=true their times,
// tailLines, limitBytes, previous (the instance before), and follow until the instance ends.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/** The text of one CRI log line (with its time, if asked); undefined for a line that is not one. */
export function criLine(line: string, timestamps: boolean): string | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
  if (!m) return undefined;
  const text = `${m[4] ?? ''}${m[3] === 'F' ? '\n' : ''}`;
  return timestamps ? `${m[1] ?? ''} ${text}` : text;
}

/** The text of a whole CRI log (tailLines: only the last lines; limitBytes: at most so many bytes). */
export function criText(
  raw: string,
  opts: { timestamps: boolean; tailLines?: number; limitBytes?: number },
): string {
  let lines = raw.split('\n').filter((l) => l !== '');
  if (opts.tailLines !== undefined) lines = opts.tailLines === 0 ? [] : lines.slice(-opts.tailLines);
  let out = lines.map((l) => criLine(l, opts.timestamps) ?? '').join('');
  if (opts.limitBytes !== undefined && Buffer.byteLength(out) > opts.limitBytes)
    out = Buffer.from(out).subarray(0, opts.limitBytes).toString('utf8');
  return out;
}

/** Options of GET /containerLogs (PodLogOptions). */
export interface LogOptions {
  follow: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
}

/**
 * Writes a container's log to res; with follow, goes on writing what the container adds until
 * `ended()` says its instance is over or the client goes.
 */
export function serveLog(res: ServerResponse, file: string, opts: LogOptions, ended: () => boolean): void {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  const raw = existsSync(file) ? readFileSync(file, 'utf8') : '';
  res.write(criText(raw, opts));
  if (!opts.follow) {
    res.end();
    return;
  }
  let pos = Buffer.byteLength(raw);
  let partial = '';
  let closed = false;
  res.on('close', () => (closed = true));
  const poll = (): void => {
    if (closed) return;
    try {
      const size = existsSync(file) ? statSync(file).size : 0;
      if (size > pos) {
        const fd = openSync(file, 'r');
        const buf = Buffer.alloc(size - pos);
        readSync(fd, buf, 0, buf.length, pos);
        closeSync(fd);
        pos = size;
        const text = partial + buf.toString('utf8');
        const nl = text.lastIndexOf('\n');
        partial = nl < 0 ? text : text.slice(nl + 1);
        if (nl >= 0) res.write(criText(text.slice(0, nl + 1), { timestamps: opts.timestamps }));
      }
    } catch {
      // the file went with its pod
    }
    if (ended()) {
      res.end();
      return;
    }
    setTimeout(poll, 200);
  };
  setTimeout(poll, 200);
}
