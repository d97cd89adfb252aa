// Where a rollout's journal lives: a ConfigMap in bosun's namespace (bosun-system/bosun-upgrade,
// key journal.json), written only with a resourceVersion precondition. A ConfigMap because every
// cluster serves it with no CRD to install first, RBAC can grant exactly one namespace, `kubectl get
// configmap -o yaml` shows it to anyone, its 1 MiB limit holds the journal of thousands of steps, and
// an etcd backup carries it along with the rest of the cluster (a Lease carries no data, a CRD must
// be installed and upgraded itself, a Secret says "secret" where nothing is).
//
// Writes: the caller gives a decision, current journal -> next journal. The store sends it with the
// resourceVersion it last saw; on 409 (someone else wrote, or our own view was stale) it reads the
// journal again and asks the decision again, on what it finds (client-go's RetryOnConflict). Writes
// of one process are queued, so parallel steps of a batch do not race each other into 409s.
// An API server that goes away under a write (the upgrade restarts them one by one) is waited for:
// the write is sent again, and a 409 then, with the journal already as this write left it, means
// the first attempt went through.
import { BosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import { isAlreadyExists, isConflict, isRetryable } from '../kube/errors.ts';
import type { ConfigMap } from '../kube/cluster-info.ts';
import type { ConfigMaps } from '../kube/configmaps.ts';
import { BOSUN_NAMESPACE, ensureNamespace } from '../kube/leases.ts';
import type { Namespaces } from '../kube/ports.ts';
import { parseJournal, type RolloutJournal } from './rollout.ts';

/** bosun's namespace: its lock, its journal, its agent. */
export const JOURNAL_NAMESPACE = BOSUN_NAMESPACE;
/** The ConfigMap of the upgrade journal. */
export const UPGRADE_JOURNAL_NAME = 'bosun-upgrade';
/** The key of the journal in the ConfigMap's data. */
export const JOURNAL_KEY = 'journal.json';

/** What the store needs from the API. Each method throws KubeApiError. */
export type ConfigMapObjects = ConfigMaps & Namespaces;

/** A journal as read, with the version it was read at. */
export interface StoredJournal {
  journal: RolloutJournal;
  resourceVersion: string;
}

/** What a read found besides a journal. */
export type JournalRead =
  | { found: 'none' }
  | { found: 'unreadable'; resourceVersion: string }
  | ({ found: 'journal' } & StoredJournal);

/**
 * A decision on the journal as it is: the next journal, or undefined to write nothing. It may
 * throw (e.g. the journal now belongs to another rollout): the error ends update().
 */
export type JournalDecision = (current: RolloutJournal | undefined) => RolloutJournal | undefined;

const MAX_ATTEMPTS = 20;
/** How long a write waits for an API server that does not answer (ms). */
const UNAVAILABLE_FOR_MS = 60_000;

/** The upgrade journal in the cluster. */
export class JournalStore {
  readonly namespace: string;
  readonly name: string;
  private last: { journal: RolloutJournal | undefined; resourceVersion: string | undefined } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock | undefined;

  constructor(
    private readonly kube: ConfigMapObjects,
    opts: { namespace?: string; name?: string; clock?: Clock } = {},
  ) {
    this.clock = opts.clock;
    this.namespace = opts.namespace ?? JOURNAL_NAMESPACE;
    this.name = opts.name ?? UPGRADE_JOURNAL_NAME;
  }

  /** Reads the journal from the cluster. */
  async read(): Promise<JournalRead> {
    const cm = await this.kube.getConfigMap(this.namespace, this.name);
    if (!cm) {
      this.last = { journal: undefined, resourceVersion: undefined };
      return { found: 'none' };
    }
    const rv = cm.metadata.resourceVersion ?? '';
    const j = parseJournal(cm.data?.[JOURNAL_KEY] ?? '');
    this.last = { journal: j, resourceVersion: rv };
    return j
      ? { found: 'journal', journal: j, resourceVersion: rv }
      : { found: 'unreadable', resourceVersion: rv };
  }

  /**
   * Applies a decision and writes the result with a resourceVersion precondition; on a conflict,
   * reads again and decides again. Returns the journal as written (or as it is, when the decision
   * wrote nothing).
   */
  update(decide: JournalDecision): Promise<RolloutJournal | undefined> {
    const next = this.queue.then(() => this.write(decide));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async write(decide: JournalDecision): Promise<RolloutJournal | undefined> {
    const started = this.clock?.now().getTime() ?? 0;
    /** The text of a write whose answer was lost: found in the journal later, it went through. */
    let unanswered: string | undefined;
    let conflicts = 0;
    for (;;) {
      try {
        if (!this.last) await this.read();
        const cur = this.last ?? { journal: undefined, resourceVersion: undefined };
        if (unanswered !== undefined && cur.journal && JSON.stringify(cur.journal) === unanswered)
          return cur.journal;
        unanswered = undefined;
        const next = decide(cur.journal);
        if (next === undefined) return cur.journal;
        const text = JSON.stringify(next);
        const cm: ConfigMap = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: this.name,
            namespace: this.namespace,
            labels: { 'app.kubernetes.io/managed-by': 'bosun', 'bosun.dev/journal': 'upgrade' },
            ...(cur.resourceVersion !== undefined ? { resourceVersion: cur.resourceVersion } : {}),
          },
          data: { [JOURNAL_KEY]: text },
        };
        try {
          const written =
            cur.resourceVersion === undefined ? await this.create(cm) : await this.kube.updateConfigMap(cm);
          this.last = { journal: next, resourceVersion: written.metadata.resourceVersion ?? '' };
          return next;
        } catch (e) {
          if (isRetryable(e)) unanswered = text;
          throw e;
        }
      } catch (e) {
        if (isConflict(e) || isAlreadyExists(e)) {
          if (++conflicts >= MAX_ATTEMPTS)
            throw new BosunError(
              `the journal ${this.namespace}/${this.name} kept changing under bosun (${conflicts} conflicts)`,
              'CONFLICT',
              { cause: e, hint: 'Another bosun may be writing it: check `bosun upgrade status`.' },
            );
          this.last = undefined;
          continue;
        }
        const clock = this.clock;
        if (!isRetryable(e) || !clock || clock.now().getTime() - started > UNAVAILABLE_FOR_MS) throw e;
        // The API server may be restarting: read again once it answers, then decide again.
        this.last = undefined;
        await clock.sleep(250);
      }
    }
  }

  /** The first write of a journal: once per cluster, so the namespace is made sure of first. */
  private async create(cm: ConfigMap): Promise<ConfigMap> {
    await ensureNamespace(this.kube, this.namespace);
    return this.kube.createConfigMap(cm);
  }
}
