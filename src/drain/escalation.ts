// What to do about a pod whose eviction stays blocked: kubectl only knows "retry until --timeout"
// (or --disable-eviction for everything). bosun takes a policy of named waits, each scoped to a
// namespace and/or a label selector:
//   after=10m,action=give-up                        stop draining this node after 10 minutes
//   after=5m,action=delete,namespace=batch          delete blocked pods in batch after 5 minutes
//   after=2m,action=wait,selector=app=db            keep waiting for db pods (overrides broader rules)
// For a blocked pod, the matching rule with the longest `after` that has elapsed decides (ties: the
// one listed first). No rule, or none elapsed: keep waiting. The default policy is empty, so bosun
// never deletes a pod unless a rule names where. `selector=` takes the rest of the text, so it may
// contain commas. Pure.
import type { Pod } from '../kube/types.ts';
import { parseDuration } from '../common/duration.ts';
import { matches, parseSelector, type Selector } from '../kube/labels.ts';

/** What to do about a blocked pod. */
export type EscalationAction = 'wait' | 'give-up' | 'delete';

/** One rule of the policy. */
export interface EscalationRule {
  /** How long the pod must have been blocked, in milliseconds. */
  afterMs: number;
  action: EscalationAction;
  /** Only pods in this namespace; undefined for any. */
  namespace?: string;
  /** Only pods matching this label selector (as typed); undefined for any. */
  selector?: string;
  /** The rule as the user wrote it, for messages. */
  text: string;
}

/** The whole policy, rules in the order given. */
export interface EscalationPolicy {
  rules: EscalationRule[];
}

/** The empty policy: keep waiting (until --timeout), never delete. */
export const DEFAULT_POLICY: EscalationPolicy = { rules: [] };

/** The result of parsing one rule. */
export type RuleParse = { ok: true; rule: EscalationRule } | { ok: false; error: string };

const ACTIONS: readonly EscalationAction[] = ['wait', 'give-up', 'delete'];

/** Parses "after=5m,action=delete,namespace=batch,selector=app in (a,b)". */
export function parseEscalationRule(text: string): RuleParse {
  const fields: Record<string, string> = {};
  let rest = text.trim();
  while (rest.length > 0) {
    const eq = rest.indexOf('=');
    if (eq <= 0)
      return {
        ok: false,
        error: `invalid escalation rule "${text}": expected key=value pairs separated by commas`,
      };
    const key = rest.slice(0, eq).trim();
    let value: string;
    if (key === 'selector') {
      value = rest.slice(eq + 1);
      rest = '';
    } else {
      const comma = rest.indexOf(',', eq);
      value = comma < 0 ? rest.slice(eq + 1) : rest.slice(eq + 1, comma);
      rest = comma < 0 ? '' : rest.slice(comma + 1).trim();
    }
    if (!['after', 'action', 'namespace', 'selector'].includes(key))
      return {
        ok: false,
        error: `invalid escalation rule "${text}": unknown key "${key}" (known: after, action, namespace, selector)`,
      };
    if (key in fields) return { ok: false, error: `invalid escalation rule "${text}": "${key}" given twice` };
    fields[key] = value.trim();
  }
  const after = fields['after'] === undefined ? undefined : parseDuration(fields['after']);
  if (after === undefined)
    return {
      ok: false,
      error: `invalid escalation rule "${text}": after=DURATION is required (e.g. after=10m)`,
    };
  const action = fields['action'] as EscalationAction | undefined;
  if (action === undefined || !ACTIONS.includes(action))
    return {
      ok: false,
      error: `invalid escalation rule "${text}": action must be one of ${ACTIONS.join(', ')}`,
    };
  if (fields['namespace'] === '')
    return { ok: false, error: `invalid escalation rule "${text}": namespace is empty` };
  if (fields['selector'] !== undefined) {
    const s = parseSelector(fields['selector']);
    if (!s.ok) return { ok: false, error: `invalid escalation rule "${text}": ${s.error}` };
  }
  if (action === 'delete' && fields['namespace'] === undefined && fields['selector'] === undefined) {
    return {
      ok: false,
      error: `invalid escalation rule "${text}": a rule that deletes pods must name a namespace or a selector`,
    };
  }
  return {
    ok: true,
    rule: {
      afterMs: after,
      action,
      ...(fields['namespace'] !== undefined ? { namespace: fields['namespace'] } : {}),
      ...(fields['selector'] !== undefined ? { selector: fields['selector'] } : {}),
      text: text.trim(),
    },
  };
}

function selectorOf(rule: EscalationRule): Selector | undefined {
  if (rule.selector === undefined) return undefined;
  const s = parseSelector(rule.selector);
  return s.ok ? s.selector : { requirements: [], matchNothing: true };
}

/** Whether the rule's scope covers the pod. */
export function ruleMatches(rule: EscalationRule, pod: Pod): boolean {
  if (rule.namespace !== undefined && (pod.metadata.namespace ?? 'default') !== rule.namespace) return false;
  const sel = selectorOf(rule);
  return sel === undefined || matches(sel, pod.metadata.labels);
}

/** The decision for one blocked pod. */
export interface EscalationDecision {
  action: EscalationAction;
  /** The rule that decided; undefined when no rule has elapsed. */
  rule?: EscalationRule;
  /** Milliseconds until the next matching rule falls due; undefined when none is left. */
  nextInMs?: number;
}

/** Decides what to do with a pod blocked for blockedForMs. */
export function decideEscalation(
  policy: EscalationPolicy,
  pod: Pod,
  blockedForMs: number,
): EscalationDecision {
  let chosen: EscalationRule | undefined;
  let next: number | undefined;
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, pod)) continue;
    if (rule.afterMs <= blockedForMs) {
      if (chosen === undefined || rule.afterMs > chosen.afterMs) chosen = rule;
    } else {
      const inMs = rule.afterMs - blockedForMs;
      if (next === undefined || inMs < next) next = inMs;
    }
  }
  return {
    action: chosen?.action ?? 'wait',
    ...(chosen ? { rule: chosen } : {}),
    ...(next !== undefined ? { nextInMs: next } : {}),
  };
}
