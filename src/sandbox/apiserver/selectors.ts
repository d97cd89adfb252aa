// Field selectors as kube-apiserver parses and matches them (k8s.io/apimachinery/pkg/fields/
// selector.go). Label selectors are kube/labels.ts, shared with bosun's features. Pure: no I/O.
/** Thrown for a selector that does not parse; the API answers 400 with the message. */
export class SelectorError extends Error {}

/** One term of a field selector: `field=value` or `field!=value`. */
export interface FieldTerm {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Parses `?fieldSelector=spec.nodeName=worker-1,status.phase!=Succeeded` (with `\,` `\=` escapes). */
export function parseFieldSelector(text: string): FieldTerm[] {
  const s = text.trim();
  if (s === '') return [];
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] ?? '');
      i++;
    } else if (c === ',') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((p) => {
    const m = /^(.*?)(==|!=|=)(.*)$/s.exec(p);
    if (!m) throw new SelectorError(`invalid selector: '${p}'; can't understand '${p}'`);
    const unescape = (x: string): string => x.replace(/\\(.)/g, '$1');
    return {
      field: unescape(m[1] ?? '').trim(),
      op: m[2] === '!=' ? '!=' : '=',
      value: unescape(m[3] ?? ''),
    };
  });
}

/** Does the object's field set satisfy every term? */
export function matchesFields(terms: readonly FieldTerm[], fields: Record<string, string>): boolean {
  for (const t of terms) {
    const v = fields[t.field] ?? '';
    if (t.op === '=' ? v !== t.value : v === t.value) return false;
  }
  return true;
}
