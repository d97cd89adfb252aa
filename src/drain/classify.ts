// Why an eviction was refused, in words an admin can act on. kubectl prints the server's error and
// retries every 429 the same way; bosun reads the Status (code, reason, causes, message) together
// with the PDB objects and says which budget, with its numbers, and whether waiting can help.
// Follows kube-apiserver's eviction handler (pkg/registry/core/pod/storage/eviction.go).
// Pure: gets the failure and the objects, returns a classification.
import type { Pod, PodDisruptionBudget } from '../kube/types.ts';
import { isPodReady } from '../kube/pods.ts';
import { budgetNumbers, budgetsFor, describeBudget, heldEntries, type BudgetNumbers } from './preflight.ts';

/** The parts of a failed API answer classification reads (KubeApiError has them all). */
export interface ApiFailure {
  /** HTTP status; 0 when no answer came back. */
  status: number;
  reason: string;
  message: string;
  causes: readonly { type: string; message: string }[];
  retryAfterSeconds?: number | undefined;
}

/** The kinds of blocked eviction. */
export type BlockKind =
  /** A PDB allows no disruption right now (429, DisruptionBudget cause). Waiting helps when replacements become Ready. */
  | 'budget-exhausted'
  /** The pod is not Ready and its PDB uses IfHealthyBudget with the budget not healthy: waiting may never help. */
  | 'unhealthy-pod-if-healthy-budget'
  /** The disruption controller has not processed the PDB's latest generation yet (429). */
  | 'budget-not-observed'
  /** The pod is covered by more than one PDB (500): the eviction API never accepts it. */
  | 'multiple-pdbs'
  /** An admission webhook or ValidatingAdmissionPolicy denied the eviction. */
  | 'admission-denied'
  /** The namespace is being deleted (403 NamespaceTerminating): the namespace controller will remove the pod. */
  | 'namespace-terminating'
  /** 429 without a budget cause: API priority and fairness is throttling us. */
  | 'rate-limited'
  /** 403 for another reason (RBAC). */
  | 'forbidden'
  /**
   * 409 Conflict: the pod (or its budget) changed between kube-apiserver's budget check and its
   * delete, which carries the checked pod's resourceVersion as a precondition (another drain,
   * a readiness change). Retrying checks again against the new state.
   */
  | 'conflict'
  /** 5xx or no answer: a server or network problem, likely transient. */
  | 'server-error'
  /** Anything else. */
  | 'unknown';

/** A classified refusal. */
export interface Blocked {
  kind: BlockKind;
  /** Whether retrying the same eviction can succeed without anyone changing anything. */
  retry: boolean;
  /** One line for people. */
  message: string;
  /** What the user can do. */
  hint: string;
  /** The budget involved, with its numbers, when there is one. */
  budget?: BudgetNumbers;
  /** Seconds the server asked us to wait, if it said. */
  retryAfterSeconds?: number;
}

/** kube-apiserver's DisruptionBudget cause type (policyv1.DisruptionBudgetCause). */
export const DISRUPTION_BUDGET_CAUSE = 'DisruptionBudget';
/** corev1.NamespaceTerminatingCause. */
export const NAMESPACE_TERMINATING_CAUSE = 'NamespaceTerminating';

const MULTIPLE_PDBS = /more than one PodDisruptionBudget/i;
const WEBHOOK_DENIED = /admission webhook "([^"]+)" denied the request(?::\s*(.*))?/i;
const POLICY_DENIED =
  /ValidatingAdmissionPolicy '([^']+)'(?: with binding '[^']+')? denied request(?::\s*(.*))?/i;
const BUDGET_CAUSE = /The disruption budget (\S+) needs (\d+) healthy pods and has (\d+) currently/;
const BUDGET_PENDING = /The disruption budget (\S+) is still being processed/;

/**
 * The budget's status.disruptedPods entries that may hold a live pod: every entry but those of
 * pods known to be deleting or gone (heldEntries then keeps those old enough to be stale).
 */
function disruptedEntries(pdb: PodDisruptionBudget, pods: readonly Pod[]): { pod: string; since: string }[] {
  const ns = pdb.metadata.namespace ?? 'default';
  const byName = new Map(
    pods.filter((p) => (p.metadata.namespace ?? 'default') === ns).map((p) => [p.metadata.name, p]),
  );
  return Object.entries(pdb.status?.disruptedPods ?? {})
    .filter(([name]) => {
      const p = byName.get(name);
      return p === undefined || p.metadata.deletionTimestamp === undefined;
    })
    .map(([name, since]) => ({ pod: `${ns}/${name}`, since }));
}

/**
 * Classifies a refused eviction of pod, given the PDBs (and pods, for budget numbers) as they are
 * now. With `now`, a budget held down by status.disruptedPods entries of evictions that never
 * deleted their pods says so.
 */
export function classifyEviction(
  failure: ApiFailure,
  pod: Pod,
  pdbs: readonly PodDisruptionBudget[],
  pods: readonly Pod[] = [],
  now?: Date,
): Blocked {
  const retryAfter =
    failure.retryAfterSeconds !== undefined ? { retryAfterSeconds: failure.retryAfterSeconds } : {};
  const budgetCause = failure.causes.find((c) => c.type === DISRUPTION_BUDGET_CAUSE);
  const covering = budgetsFor(pod, pdbs);

  if (MULTIPLE_PDBS.test(failure.message) || (failure.status === 500 && covering.length > 1)) {
    return {
      kind: 'multiple-pdbs',
      retry: false,
      message: `covered by ${covering.length > 1 ? `${covering.length} PodDisruptionBudgets (${covering.map((b) => b.metadata.name).join(', ')})` : 'more than one PodDisruptionBudget'}; the eviction API does not support that`,
      hint: 'Make the budgets select disjoint pods, or delete the pod yourself.',
    };
  }

  const webhook = WEBHOOK_DENIED.exec(failure.message) ?? POLICY_DENIED.exec(failure.message);
  if (webhook) {
    return {
      kind: 'admission-denied',
      retry: false,
      message: `eviction denied by ${WEBHOOK_DENIED.test(failure.message) ? 'admission webhook' : 'ValidatingAdmissionPolicy'} "${webhook[1] ?? ''}"${webhook[2] ? `: ${webhook[2]}` : ''}`,
      hint: 'Ask the owner of that policy, or delete the pod yourself.',
    };
  }

  if (failure.status === 403 && failure.causes.some((c) => c.type === NAMESPACE_TERMINATING_CAUSE)) {
    return {
      kind: 'namespace-terminating',
      retry: true,
      message: `namespace ${pod.metadata.namespace ?? ''} is being deleted; its pods go with it`,
      hint: 'Wait for the namespace controller, or check for finalizers holding the namespace.',
    };
  }

  if (failure.status === 429 || failure.reason === 'TooManyRequests') {
    const pending = budgetCause ? BUDGET_PENDING.exec(budgetCause.message) : null;
    if (pending) {
      return {
        kind: 'budget-not-observed',
        retry: true,
        message: `PodDisruptionBudget ${pod.metadata.namespace ?? ''}/${pending[1] ?? ''} is still being processed by the disruption controller`,
        hint: 'Wait; if it lasts, check kube-controller-manager.',
        ...retryAfter,
      };
    }
    if (budgetCause || covering.length === 1) {
      const m = budgetCause ? BUDGET_CAUSE.exec(budgetCause.message) : null;
      const pdb = covering.find((b) => b.metadata.name === m?.[1]) ?? covering[0];
      const numbers = pdb
        ? budgetNumbers(pdb, pods, heldEntries(disruptedEntries(pdb, pods), now))
        : undefined;
      if (numbers && m) {
        // The server's numbers are the truth at the moment it refused.
        numbers.desiredHealthy = Number(m[2]);
        numbers.currentHealthy = Number(m[3]);
        numbers.disruptionsAllowed = 0;
      }
      const name = numbers ? `${numbers.namespace}/${numbers.name}` : (m?.[1] ?? 'unknown');
      if (!isPodReady(pod) && numbers?.unhealthyPodEvictionPolicy !== 'AlwaysAllow') {
        return {
          kind: 'unhealthy-pod-if-healthy-budget',
          retry: true,
          message: `pod is not Ready and PodDisruptionBudget ${name} (IfHealthyBudget) lets unhealthy pods go only while ${numbers ? `${numbers.desiredHealthy} pods are healthy (${numbers.currentHealthy} are)` : 'the budget is healthy'}`,
          hint: "Fix the unhealthy pods, or set the budget's unhealthyPodEvictionPolicy: AlwaysAllow.",
          ...(numbers ? { budget: numbers } : {}),
          ...retryAfter,
        };
      }
      return {
        kind: 'budget-exhausted',
        retry: true,
        message: numbers
          ? describeBudget(numbers)
          : `PodDisruptionBudget ${name} allows no disruption now${m ? ` (needs ${m[2]} healthy pods, has ${m[3]})` : ''}`,
        hint:
          numbers && numbers.maxAllowed <= 0
            ? 'This budget never allows a disruption: scale the workload up or relax the budget.'
            : 'Waiting for replacement pods to become Ready elsewhere.',
        ...(numbers ? { budget: numbers } : {}),
        ...retryAfter,
      };
    }
    return {
      kind: 'rate-limited',
      retry: true,
      message: `the API server is throttling requests: ${failure.message}`,
      hint: 'Retrying with backoff.',
      ...retryAfter,
    };
  }

  if (failure.status === 403) {
    return {
      kind: 'forbidden',
      retry: false,
      message: failure.message,
      hint: 'Your kubeconfig user needs create on pods/eviction (or delete on pods with --disable-eviction).',
    };
  }
  if (failure.status === 409) {
    return {
      kind: 'conflict',
      retry: true,
      message: `the pod or its PodDisruptionBudget changed while the API server checked the eviction: ${failure.message}`,
      hint: 'Retrying against the new state.',
    };
  }
  if (failure.status === 0 || failure.status >= 500) {
    return {
      kind: 'server-error',
      retry: true,
      message: failure.message,
      hint: 'Retrying; check the API server if it lasts.',
      ...retryAfter,
    };
  }
  return {
    kind: 'unknown',
    retry: false,
    message: failure.message,
    hint: 'See the message; delete the pod yourself if it must go.',
  };
}
