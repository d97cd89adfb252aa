// Label selectors, as apimachinery's labels.Parse and metav1.LabelSelectorAsSelector define them:
// the string form users type (`-l app=web,tier in (a,b),!legacy`) and the object form PDBs and
// DaemonSets carry ({matchLabels, matchExpressions}). One implementation for bosun's features and
// for the sandbox's API server and controllers. Pure: parses and matches, nothing else.
import type { LabelSelector } from './types.ts';

/** One requirement of a selector. */
export interface Requirement {
  key: string;
  operator: 'in' | 'notin' | 'exists' | '!' | '=' | '!=' | 'gt' | 'lt';
  values: string[];
}

/** A parsed selector: every requirement must hold. `matchNothing` for a nil object selector. */
export interface Selector {
  requirements: Requirement[];
  matchNothing?: boolean;
}

/** The result of parsing user input. */
export type ParseResult = { ok: true; selector: Selector } | { ok: false; error: string };

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A qualified name: [DNS-subdomain prefix/]name, name at most 63 characters. */
export function validateLabelKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2)
    return `invalid label key "${key}": a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'`;
  const name = parts.length === 2 ? (parts[1] ?? '') : (parts[0] ?? '');
  const prefix = parts.length === 2 ? parts[0] : undefined;
  if (prefix !== undefined && (prefix === '' || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return `invalid label key "${key}": prefix part must be a DNS subdomain`;
  if (name === '' || name.length > 63 || !NAME.test(name))
    return `invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`;
  return undefined;
}

/** A label value: empty, or at most 63 alphanumerics, '-', '_', '.' starting and ending alphanumeric. */
export function validateLabelValue(v: string): string | undefined {
  if (v === '') return undefined;
  if (v.length > 63 || !NAME.test(v))
    return `invalid label value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  return undefined;
}

type Tok =
  | { t: 'id'; v: string }
  | { t: 'op'; v: string }
  | { t: '('; v: '(' }
  | { t: ')'; v: ')' }
  | { t: ','; v: ',' }
  | { t: '!'; v: '!' };

function lex(s: string): Tok[] | string {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      out.push({ t: c, v: c } as Tok);
      i++;
      continue;
    }
    const two = s.slice(i, i + 2);
    if (two === '==' || two === '!=') {
      out.push({ t: 'op', v: two });
      i += 2;
      continue;
    }
    if (c === '=' || c === '>' || c === '<') {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    if (c === '!') {
      out.push({ t: '!', v: '!' });
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && !/[\s(),=!<>]/.test(s[j] ?? '')) j++;
    if (j === i) return `unexpected character "${c}" at position ${i}`;
    out.push({ t: 'id', v: s.slice(i, j) });
    i = j;
  }
  return out;
}

/** Parses the string form (kubectl -l). An empty string selects everything. */
export function parseSelector(text: string): ParseResult {
  const toks = lex(text);
  if (typeof toks === 'string') return { ok: false, error: toks };
  const reqs: Requirement[] = [];
  let i = 0;
  const peek = (): Tok | undefined => toks[i];
  const fail = (msg: string): ParseResult => ({ ok: false, error: `unable to parse requirement: ${msg}` });
  while (i < toks.length) {
    let neg = false;
    if (peek()?.t === '!') {
      neg = true;
      i++;
    }
    const keyTok = toks[i++];
    if (keyTok?.t !== 'id') return fail(`found '${keyTok?.v ?? ''}', expected: identifier`);
    const key = keyTok.v;
    const bad = validateLabelKey(key);
    if (bad) return fail(bad);
    const next = peek();
    if (neg) {
      if (next !== undefined && next.t !== ',')
        return fail(`found '${next.v}', expected: ',' or 'end of string'`);
      reqs.push({ key, operator: '!', values: [] });
    } else if (next === undefined || next.t === ',') {
      reqs.push({ key, operator: 'exists', values: [] });
    } else if (next.t === 'op') {
      i++;
      const valTok = peek();
      let value = '';
      if (valTok?.t === 'id') {
        value = valTok.v;
        i++;
      } else if (valTok !== undefined && valTok.t !== ',')
        return fail(`found '${valTok.v}', expected: identifier`);
      const badV = validateLabelValue(value);
      if (badV) return fail(badV);
      if (next.v === '>' || next.v === '<') {
        if (!/^-?\d+$/.test(value)) return fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
        reqs.push({ key, operator: next.v === '>' ? 'gt' : 'lt', values: [value] });
      } else reqs.push({ key, operator: next.v === '!=' ? '!=' : '=', values: [value] });
    } else if (next.t === 'id' && (next.v === 'in' || next.v === 'notin')) {
      i++;
      if (peek()?.t !== '(') return fail(`found '${peek()?.v ?? ''}', expected: '('`);
      i++;
      const values: string[] = [];
      for (;;) {
        const v = peek();
        if (v?.t === 'id') {
          const badV = validateLabelValue(v.v);
          if (badV) return fail(badV);
          values.push(v.v);
          i++;
        } else if (v?.t === ',' || v?.t === ')') {
          values.push('');
        } else return fail(`found '${v?.v ?? ''}', expected: ',', ')' or identifier`);
        const sep = peek();
        if (sep?.t === ',') {
          i++;
          continue;
        }
        if (sep?.t === ')') {
          i++;
          break;
        }
        return fail(`found '${sep?.v ?? 'end of string'}', expected: ',' or ')'`);
      }
      reqs.push({ key, operator: next.v === 'in' ? 'in' : 'notin', values: [...new Set(values)] });
    } else return fail(`found '${next.v}', expected: in, notin, =, ==, !=, gt, lt`);
    const sep = peek();
    if (sep === undefined) break;
    if (sep.t !== ',') return fail(`found '${sep.v}', expected: ',' or 'end of string'`);
    i++;
    if (i >= toks.length) return fail(`found 'end of string', expected: identifier`);
  }
  return { ok: true, selector: { requirements: reqs } };
}

/**
 * The object form, as metav1.LabelSelectorAsSelector converts it: undefined matches nothing, {}
 * matches everything, matchLabels and matchExpressions are ANDed; an unknown operator is an error.
 */
export function labelSelectorAsSelector(ls: LabelSelector | undefined | null): ParseResult {
  if (ls === undefined || ls === null)
    return { ok: true, selector: { requirements: [], matchNothing: true } };
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {}))
    reqs.push({ key: k, operator: '=', values: [v] });
  for (const e of ls.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') reqs.push({ key: e.key, operator: 'in', values: e.values ?? [] });
    else if (op === 'NotIn') reqs.push({ key: e.key, operator: 'notin', values: e.values ?? [] });
    else if (op === 'Exists') reqs.push({ key: e.key, operator: 'exists', values: [] });
    else if (op === 'DoesNotExist') reqs.push({ key: e.key, operator: '!', values: [] });
    else return { ok: false, error: `"${op}" is not a valid label selector operator` };
  }
  return { ok: true, selector: { requirements: reqs } };
}

/** The object form for matching only: a selector that does not convert matches nothing. */
export function fromLabelSelector(ls: LabelSelector | undefined | null): Selector {
  const r = labelSelectorAsSelector(ls);
  return r.ok ? r.selector : { requirements: [], matchNothing: true };
}

/** Whether labels satisfy one requirement. */
export function matchesRequirement(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  switch (r.operator) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(v ?? '');
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v ?? '');
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v ?? '')) return false;
      const n = Number(v);
      const want = Number(r.values[0]);
      return r.operator === 'gt' ? n > want : n < want;
    }
  }
}

/** Whether labels satisfy the selector. */
export function matches(sel: Selector, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (sel.matchNothing) return false;
  const l = labels ?? {};
  return sel.requirements.every((r) => matchesRequirement(r, l));
}

/** True for a selector that selects everything (empty string or {}). */
export function isEverything(sel: Selector): boolean {
  return !sel.matchNothing && sel.requirements.length === 0;
}

/** The string form, for the API's labelSelector parameter. */
export function selectorString(sel: Selector): string {
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case '=':
          return `${r.key}=${r.values[0] ?? ''}`;
        case '!=':
          return `${r.key}!=${r.values[0] ?? ''}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'gt':
          return `${r.key}>${r.values[0] ?? ''}`;
        case 'lt':
          return `${r.key}<${r.values[0] ?? ''}`;
      }
    })
    .join(',');
}
