// Label and field selectors as kube-apiserver parses and matches them
// (k8s.io/apimachinery/pkg/labels/selector.go and pkg/fields/selector.go). Pure: no I/O.
import type { LabelSelector } from './types.ts';

/** One requirement of a label selector. */
export interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!' | '=' | '!=' | 'gt' | 'lt';
  values: string[];
}

/** A parsed label selector; an empty list matches everything. */
export type Selector = Requirement[];

/** A selector that matches nothing (a nil metav1.LabelSelector in some APIs). */
export const NOTHING: Selector = [{ key: '', op: 'in', values: [] }];

/** Thrown for a selector that does not parse; the API answers 400 with the message. */
export class SelectorError extends Error {}

const KEY_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string): void {
  if (!KEY_RE.test(key) || key.length > 316) throw new SelectorError(`invalid label key "${key}"`);
}

function checkValue(v: string): void {
  if (!VALUE_RE.test(v) || v.length > 63) throw new SelectorError(`invalid label value: "${v}"`);
}

/**
 * Parses the string form used in `?labelSelector=`: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
 */
export function parseLabelSelector(text: string): Selector {
  const s = text.trim();
  if (s === '') return [];
  const reqs: Requirement[] = [];
  let i = 0;
  const skipWs = (): void => {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
  };
  const readIdent = (): string => {
    skipWs();
    const start = i;
    while (i < s.length && !/[\s,=!()<>]/.test(s[i] ?? '')) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    let negate = false;
    if (s[i] === '!') {
      negate = true;
      i++;
    }
    const key = readIdent();
    if (key === '')
      throw new SelectorError(`unable to parse requirement: found '${s[i] ?? ''}', expected: identifier`);
    checkKey(key);
    skipWs();
    if (negate) {
      reqs.push({ key, op: '!', values: [] });
    } else if (i >= s.length || s[i] === ',') {
      reqs.push({ key, op: 'exists', values: [] });
    } else if (s.startsWith('==', i) || s.startsWith('!=', i) || s[i] === '=') {
      const op = s.startsWith('!=', i) ? '!=' : '=';
      i += s.startsWith('==', i) || s.startsWith('!=', i) ? 2 : 1;
      const value = readIdent();
      checkValue(value);
      reqs.push({ key, op, values: [value] });
    } else if (s[i] === '>' || s[i] === '<') {
      const op = s[i] === '>' ? 'gt' : 'lt';
      i++;
      const value = readIdent();
      if (!/^-?\d+$/.test(value))
        throw new SelectorError(`for 'Gt', 'Lt' operators, the value must be an integer`);
      reqs.push({ key, op, values: [value] });
    } else {
      const word = readIdent();
      if (word !== 'in' && word !== 'notin')
        throw new SelectorError(
          `unable to parse requirement: found '${word}', expected: in, notin, =, ==, !=, gt, lt`,
        );
      skipWs();
      if (s[i] !== '(')
        throw new SelectorError(`unable to parse requirement: found '${s[i] ?? ''}', expected: '('`);
      i++;
      const values: string[] = [];
      while (true) {
        const v = readIdent();
        checkValue(v);
        values.push(v);
        skipWs();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ')') {
          i++;
          break;
        }
        throw new SelectorError(`unable to parse requirement: found '${s[i] ?? ''}', expected: ',', ')'`);
      }
      reqs.push({ key, op: word, values });
    }
    skipWs();
    if (i < s.length) {
      if (s[i] !== ',')
        throw new SelectorError(`unable to parse requirement: found '${s[i] ?? ''}', expected: ','`);
      i++;
    }
  }
  return reqs;
}

/**
 * Converts a metav1.LabelSelector. A missing selector matches nothing; an empty one ({}) matches
 * everything (metav1.LabelSelectorAsSelector).
 */
export function fromLabelSelector(sel: LabelSelector | undefined | null): Selector {
  if (sel === undefined || sel === null) return NOTHING;
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, op: '=', values: [v] });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') reqs.push({ key: e.key, op: 'in', values: e.values ?? [] });
    else if (op === 'NotIn') reqs.push({ key: e.key, op: 'notin', values: e.values ?? [] });
    else if (op === 'Exists') reqs.push({ key: e.key, op: 'exists', values: [] });
    else if (op === 'DoesNotExist') reqs.push({ key: e.key, op: '!', values: [] });
    else throw new SelectorError(`"${op}" is not a valid label selector operator`);
  }
  return reqs;
}

/** Does the label set satisfy every requirement? */
export function matchesLabels(sel: Selector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case '=':
      case 'in':
        if (!has || !r.values.includes(v ?? '')) return false;
        break;
      case '!=':
      case 'notin':
        if (has && r.values.includes(v ?? '')) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v ?? '')) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

/** Is this selector the empty one (matches everything)? */
export function isEmptySelector(sel: Selector): boolean {
  return sel.length === 0;
}

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

/** Renders a selector back to its string form (for messages). */
export function selectorString(sel: Selector): string {
  return sel
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0] ?? ''}`;
        case '!=':
          return `${r.key}!=${r.values[0] ?? ''}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'gt':
          return `${r.key}>${r.values[0] ?? ''}`;
        case 'lt':
          return `${r.key}<${r.values[0] ?? ''}`;
      }
      return '';
    })
    .join(',');
}
