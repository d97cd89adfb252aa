// The sandbox's API semantics, shared by the HTTPS front ends and the in-process controllers:
// create/get/list/update/patch/delete/watch with kube-apiserver's defaulting, validation,
// optimistic concurrency, graceful deletion, finalizers, propagation policies, the pod binding and
// eviction subresources and namespace lifecycle. Transport-free: callers get objects or ApiError.
import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../../common/ports.ts';
import { applyTo, conflictMessage, createdManagedFields } from './apply.ts';
import { applyCreateDefaults, isMirrorPod } from './defaults.ts';
import { admitServiceAccount } from './serviceaccount-admission.ts';
import { clone, isDeleting, newUid, randomSuffix, timestamp } from './meta.ts';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.ts';
import {
  etcdKey,
  etcdListPrefix,
  groupVersion,
  resource as resourceByName,
  type ResourceType,
} from './resources.ts';
import { fromLabelSelector, isEverything, matches, parseSelector, type Selector } from '../../kube/labels.ts';
import { matchesFields, parseFieldSelector, SelectorError, type FieldTerm } from './selectors.ts';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  expired,
  forbidden,
  internalError,
  invalid,
  MODIFIED_MESSAGE,
  notFound,
  serviceUnavailable,
  success,
  tooLargeResourceVersion,
  tooManyRequests,
  type StatusBody,
} from './status.ts';
import {
  CompactedError,
  FutureRevisionError,
  StorageUnavailableError,
  type EtcdStore,
  type Stored,
  type StoreEvent,
} from './store.ts';
import type { KubeObject, Namespace, Pod, PodDisruptionBudget } from './types.ts';
import { isRecord } from './types.ts';
import { validateCreate, validateUpdate } from './validation.ts';
import { isPodReady } from '../../kube/pods.ts';
import { computePdbStatusForEviction } from './pdb.ts';
import { readScale, scaleOf, SCALABLE_RESOURCES, withReplicas, type Scale } from './scale.ts';

/** metav1.DeleteOptions as the sandbox honours them. */
export interface DeleteOptions {
  /** Seconds; 0 deletes at once. Unset: the object's own default (a pod's terminationGracePeriodSeconds). */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  dryRun?: boolean;
}

/** List options: selectors as strings (as on the wire), paging, resourceVersion. */
export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

/** A list result, before it is wrapped in a <Kind>List. */
export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** What a watcher receives. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject | StatusBody;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Write the status subresource (or a namespace's finalize subresource) instead of the main resource. */
  subresource?: 'status' | 'finalize';
}

/** The patch content types kube-apiserver accepts. */
export type PatchType = 'json' | 'merge' | 'strategic';

/** Dependencies of the API layer. */
export interface ApiDeps {
  store: EtcdStore;
  clock: Clock;
}

const MAX_RETRIES = 20;
/** kube-apiserver's EvictionsRetry step between attempts at a budget's decrement. */
const EVICTION_RETRY_MS = 500;

/** A write lost an optimistic-concurrency race; carries the object as it now is. */
class Conflict {
  constructor(readonly current: Stored) {}
}

/** How long a namespace lookup for admission is reused. */
const NAMESPACE_CACHE_MS = 1000;

function storageError(e: unknown): never {
  if (e instanceof ApiError) throw e;
  if (e instanceof StorageUnavailableError) throw serviceUnavailable(e.message);
  if (e instanceof CompactedError) throw expired(e.message);
  if (e instanceof FutureRevisionError) throw tooLargeResourceVersion(e.requested, e.current);
  throw e;
}

/** Parses the selectors of a list or watch request; a bad one is a 400. */
export function parseSelectors(
  r: ResourceType,
  opts: { labelSelector?: string; fieldSelector?: string },
): { labels: Selector; fields: FieldTerm[] } {
  const labels = parseSelector(opts.labelSelector ?? '');
  if (!labels.ok) throw badRequest(labels.error);
  try {
    const fields = parseFieldSelector(opts.fieldSelector ?? '');
    for (const f of fields) {
      if (f.field === 'metadata.name' || f.field === 'metadata.namespace') continue;
      const sample = r.fields({ metadata: {} });
      if (!(f.field in sample)) throw new SelectorError(`field label not supported: ${f.field}`);
    }
    return { labels: labels.selector, fields };
  } catch (e) {
    if (e instanceof SelectorError)
      throw badRequest(
        `unable to parse requirement: ${e.message}`.replace(
          'unable to parse requirement: field label',
          'field label',
        ),
      );
    throw e;
  }
}

function objectMatches(r: ResourceType, o: KubeObject, labels: Selector, fields: FieldTerm[]): boolean {
  if (!matches(labels, o.metadata.labels)) return false;
  if (fields.length === 0) return true;
  return matchesFields(fields, {
    'metadata.name': o.metadata.name ?? '',
    'metadata.namespace': o.metadata.namespace ?? '',
    ...r.fields(o),
  });
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start } satisfies ContinueToken)).toString(
    'base64url',
  );
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string')
      throw new Error('bad');
    return t;
  } catch {
    throw badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
}

function parseRv(rv: string | undefined): number {
  if (rv === undefined || rv === '' || rv === '0') return 0;
  if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
  return Number(rv);
}

/** A caller's copy of an object as if read from the store (its resourceVersion is the mod revision); none without one. */
function storedFromHint(
  r: ResourceType,
  ns: string | undefined,
  name: string,
  hint: KubeObject | undefined,
): Stored | undefined {
  const rv = hint?.metadata.resourceVersion ? Number(hint.metadata.resourceVersion) : 0;
  return hint && rv > 0 ? { key: etcdKey(r, ns, name), obj: hint, modRevision: rv } : undefined;
}

/** The API semantics over an etcd store. */
export class ApiCore {
  private readonly store: EtcdStore;
  private readonly clock: Clock;

  constructor(deps: ApiDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
  }

  private now(): string {
    return timestamp(this.clock.now());
  }

  /** Reads one object. */
  async get(r: ResourceType, ns: string | undefined, name: string): Promise<KubeObject> {
    let got;
    try {
      got = await this.store.get(etcdKey(r, ns, name));
    } catch (e) {
      storageError(e);
    }
    if (!got) throw notFound(r, name);
    return got.obj;
  }

  /** Reads one object, or undefined when it does not exist. */
  async tryGet(r: ResourceType, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.get(r, ns, name);
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  }

  /** Lists objects, with selectors and paging, as GET on a collection does. */
  async list(r: ResourceType, ns: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    const { labels, fields } = parseSelectors(r, opts);
    const prefix = etcdListPrefix(r, ns);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    let revision = 0;
    let startKey: string | undefined;
    if (opts.continue) {
      const t = decodeContinue(opts.continue);
      revision = t.rv;
      startKey = prefix + t.start;
    } else if (opts.resourceVersionMatch === 'Exact') {
      revision = parseRv(opts.resourceVersion);
    } else {
      parseRv(opts.resourceVersion);
    }
    const items: KubeObject[] = [];
    let readAt = revision;
    try {
      while (true) {
        const page = await this.store.list(prefix, {
          revision: readAt,
          limit: limit === 0 ? 0 : Math.max(limit - items.length, 1) + 1,
          startKey,
        });
        if (readAt === 0) readAt = page.revision;
        let lastKey: string | undefined;
        let i = 0;
        for (const s of page.items) {
          i++;
          if (limit > 0 && items.length === limit) {
            // One more key exists beyond the page: hand out a continue token starting at it.
            return {
              items,
              resourceVersion: String(readAt),
              continue: encodeContinue(readAt, s.key.slice(prefix.length)),
              ...(isEverything(labels) && fields.length === 0
                ? { remainingItemCount: page.remaining + (page.items.length - i + 1) }
                : {}),
            };
          }
          lastKey = s.key;
          if (objectMatches(r, s.obj, labels, fields)) items.push(s.obj);
        }
        if (!page.more || lastKey === undefined) break;
        startKey = lastKey + '\x00';
      }
    } catch (e) {
      if (e instanceof CompactedError) {
        throw expired(
          opts.continue
            ? 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'
            : e.message,
        );
      }
      storageError(e);
    }
    return { items, resourceVersion: String(readAt) };
  }

  /**
   * The NamespaceLifecycle admission plugin's view of a namespace: kube-apiserver reads it from an
   * informer cache; this keeps the last answer for NAMESPACE_CACHE_MS (and forgets it when this
   * instance writes the namespace) so that a burst of creates does not cost a read each.
   */
  private readonly namespaceCache = new Map<string, { obj: Promise<Namespace | undefined>; at: number }>();

  private lookupNamespace(ns: string): Promise<Namespace | undefined> {
    const now = Date.now();
    const hit = this.namespaceCache.get(ns);
    if (hit && now - hit.at < NAMESPACE_CACHE_MS) return hit.obj;
    // Concurrent creates share one read.
    const obj = this.tryGet(resourceByName('namespaces'), undefined, ns) as Promise<Namespace | undefined>;
    this.namespaceCache.set(ns, { obj, at: now });
    obj.catch(() => this.namespaceCache.delete(ns));
    return obj;
  }

  /** The ServiceAccount admission's view of a ServiceAccount (kube reads its informer): hits are reused for a second. */
  private readonly serviceAccountCache = new Map<string, { obj: KubeObject; at: number }>();

  private async lookupServiceAccount(ns: string, name: string): Promise<KubeObject | undefined> {
    const key = `${ns}/${name}`;
    const hit = this.serviceAccountCache.get(key);
    if (hit && Date.now() - hit.at < NAMESPACE_CACHE_MS) return hit.obj;
    const obj = await this.tryGet(resourceByName('serviceaccounts'), ns, name);
    if (obj) this.serviceAccountCache.set(key, { obj, at: Date.now() });
    else this.serviceAccountCache.delete(key);
    return obj;
  }

  private async checkNamespace(r: ResourceType, ns: string | undefined, name: string): Promise<void> {
    if (!r.namespaced) return;
    if (!ns) throw badRequest('the server could not find the requested resource');
    let nsObj = await this.lookupNamespace(ns);
    if (!nsObj) {
      // A miss is checked live: the namespace may have been created a moment ago.
      this.namespaceCache.delete(ns);
      nsObj = await this.lookupNamespace(ns);
    }
    if (!nsObj) throw notFound(resourceByName('namespaces'), ns);
    if (nsObj.status?.phase === 'Terminating' || isDeleting(nsObj)) {
      throw forbidden(
        r,
        name,
        `unable to create new content in namespace ${ns} because it is being terminated`,
        [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${ns} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      );
    }
  }

  /** Creates an object (POST on a collection). */
  async create(
    r: ResourceType,
    ns: string | undefined,
    body: KubeObject,
    opts: WriteOptions = {},
  ): Promise<KubeObject> {
    if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest("Object 'metadata' is missing in '{}'");
    const obj = clone(body);
    const gv = groupVersion(r);
    if (obj.kind !== undefined && obj.kind !== r.kind)
      throw badRequest(
        `the API version in the data (${obj.apiVersion ?? ''}) does not match the expected API version (${gv})`,
      );
    obj.apiVersion = gv;
    obj.kind = r.kind;
    if (r.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = ns ?? obj.metadata.namespace;
    } else delete obj.metadata.namespace;
    if (!obj.metadata.name) {
      if (obj.metadata.generateName) obj.metadata.name = obj.metadata.generateName + randomSuffix(5);
      else
        throw invalid(r.kind, r.group, '', [
          {
            reason: 'FieldValueRequired',
            field: 'metadata.name',
            message: 'Required value: name or generateName is required',
          },
        ]);
    }
    const name = obj.metadata.name;
    await this.checkNamespace(r, obj.metadata.namespace, name);
    const now = this.now();
    obj.metadata.uid = newUid();
    obj.metadata.creationTimestamp = now;
    delete obj.metadata.resourceVersion;
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    if (r.tracksGeneration) obj.metadata.generation = 1;
    if (r.resource === 'nodes') {
      // Nodes may be created with their status (the kubelet registers that way).
    } else {
      applyCreateDefaults(r.resource, obj);
    }
    if (r.resource === 'pods')
      await admitServiceAccount(
        obj as Pod,
        obj.metadata.namespace ?? '',
        (ns, sa) => this.lookupServiceAccount(ns, sa),
        (ms) => this.clock.sleep(ms),
      );
    if (r.resource === 'pods' && (obj as Pod).spec.nodeName) {
      // A pod created already bound (static/mirror pods, DaemonSet pods of old) is scheduled.
      const p = obj as Pod;
      p.status = {
        ...(p.status ?? {}),
        conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now }],
      };
    }
    const causes = validateCreate(r.resource, obj);
    if (causes.length > 0) throw invalid(r.kind, r.group, name, causes);
    if (opts.dryRun) {
      const existing = await this.tryGet(r, obj.metadata.namespace, name);
      if (existing) throw alreadyExists(r, name);
      return obj;
    }
    let rev: number | undefined;
    try {
      rev = await this.store.create(etcdKey(r, obj.metadata.namespace, name), obj);
    } catch (e) {
      storageError(e);
    }
    if (rev === undefined) throw alreadyExists(r, name);
    obj.metadata.resourceVersion = String(rev);
    return obj;
  }

  /**
   * Replaces an object (PUT). An empty resourceVersion in the body is an unconditional update;
   * otherwise a stale one is a 409 Conflict.
   */
  async update(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    body: KubeObject,
    opts: WriteOptions = {},
  ): Promise<KubeObject> {
    if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest("Object 'metadata' is missing");
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const wantRv = body.metadata.resourceVersion ? parseRv(body.metadata.resourceVersion) : 0;
    let cur = await this.getStored(r, ns, name);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      if (!cur) throw notFound(r, name);
      if (wantRv !== 0 && wantRv !== cur.modRevision) throw conflict(r, name, MODIFIED_MESSAGE);
      const next = this.prepareUpdate(r, cur.obj, clone(body), opts);
      const done = await this.writeUpdate(r, ns, name, cur.obj, next, cur.modRevision, opts);
      if (!(done instanceof Conflict)) return done;
      if (wantRv !== 0) throw conflict(r, name, MODIFIED_MESSAGE);
      cur = done.current;
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /** Applies a patch (PATCH), retrying on conflicts as kube's GuaranteedUpdate does. */
  async patch(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions = {},
  ): Promise<KubeObject> {
    let cur = await this.getStored(r, ns, name);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      if (!cur) throw notFound(r, name);
      let patched: unknown;
      try {
        if (type === 'json') patched = jsonPatch(cur.obj, patch);
        else if (type === 'merge') patched = mergePatch(cur.obj, patch);
        else patched = strategicMergePatch(cur.obj, patch);
      } catch (e) {
        if (e instanceof PatchError)
          throw e.message.includes('test failed')
            ? invalid(r.kind, r.group, name, [{ message: e.message }])
            : badRequest(e.message);
        throw e;
      }
      if (!isRecord(patched) || !isRecord(patched['metadata']))
        throw badRequest("the patch removed the object's metadata");
      const body = patched as KubeObject;
      if (body.metadata.resourceVersion && body.metadata.resourceVersion !== String(cur.modRevision))
        throw conflict(r, name, MODIFIED_MESSAGE);
      if (body.metadata.name !== name)
        throw badRequest(
          `the name of the object (${body.metadata.name ?? ''}) does not match the name on the URL (${name})`,
        );
      const next = this.prepareUpdate(r, cur.obj, body, opts);
      const done = await this.writeUpdate(r, ns, name, cur.obj, next, cur.modRevision, opts);
      if (!(done instanceof Conflict)) return done;
      // The patch is applied again to the object as it now is; a resourceVersion the patch itself
      // set no longer matches then, and that is the 409 (kube's patcher works the same way).
      cur = done.current;
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /**
   * Server-side apply (PATCH with application/apply-patch+yaml): creates the object from the
   * applied configuration when it does not exist, else merges it in as apply.ts decides; a
   * conflict with another applier's field is a 409 unless force.
   */
  async apply(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    config: unknown,
    opts: WriteOptions & { fieldManager: string; force: boolean },
  ): Promise<{ obj: KubeObject; created: boolean }> {
    if (!isRecord(config)) throw badRequest('the applied configuration is not an object');
    if (typeof config['apiVersion'] !== 'string' || typeof config['kind'] !== 'string')
      throw badRequest(`unable to apply: apiVersion and kind must be set in the applied configuration`);
    if (config['apiVersion'] !== groupVersion(r) || config['kind'] !== r.kind)
      throw badRequest(
        `the API version in the data (${config['apiVersion']}) does not match the expected API version (${groupVersion(r)})`,
      );
    const meta = isRecord(config['metadata']) ? config['metadata'] : {};
    if (meta['name'] !== undefined && meta['name'] !== name)
      throw badRequest(
        `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`,
      );
    if (r.namespaced && meta['namespace'] !== undefined && meta['namespace'] !== ns)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const gv = groupVersion(r);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const now = this.now();
      const cur = await this.getStored(r, ns, name);
      if (!cur) {
        const obj = clone(config as KubeObject);
        obj.metadata = {
          ...meta,
          name,
          managedFields: createdManagedFields(config, { manager: opts.fieldManager, apiVersion: gv, now }),
        };
        try {
          return { obj: await this.create(r, ns, obj, opts), created: true };
        } catch (e) {
          if (e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists') continue;
          throw e;
        }
      }
      const res = applyTo(cur.obj, config, {
        manager: opts.fieldManager,
        apiVersion: gv,
        force: opts.force,
        now,
      });
      if (res.conflicts.length > 0) {
        const c = conflict(r, name, '');
        throw new ApiError({
          ...c.status,
          message: conflictMessage(res.conflicts),
          details: {
            ...c.status.details,
            causes: res.conflicts.map((x) => ({
              reason: 'FieldManagerConflict',
              message: `conflict with "${x.manager}" using ${x.apiVersion}`,
              field: x.field,
            })),
          },
        });
      }
      const next = this.prepareUpdate(r, cur.obj, res.object as KubeObject, opts);
      const done = await this.writeUpdate(r, ns, name, cur.obj, next, cur.modRevision, opts);
      if (!(done instanceof Conflict)) return { obj: done, created: false };
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /**
   * Read-modify-write for controllers: fn gets the current object and returns the new one (or
   * undefined to leave it). Retries on conflict. Returns the stored result, or undefined if gone.
   * With a hint (the object as an informer cached it), the first attempt starts from it instead of
   * a read, as kube's GuaranteedUpdate does with a cached object; a stale hint costs one retry.
   */
  async guaranteedUpdate(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    fn: (cur: KubeObject) => KubeObject | undefined,
    opts: WriteOptions = {},
    hint?: KubeObject,
  ): Promise<KubeObject | undefined> {
    let cur = storedFromHint(r, ns, name, hint) ?? (await this.getStored(r, ns, name));
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      if (!cur) return undefined;
      const want = fn(clone(cur.obj));
      if (want === undefined) return cur.obj;
      const next = this.prepareUpdate(r, cur.obj, want, opts);
      let done;
      try {
        done = await this.writeUpdate(r, ns, name, cur.obj, next, cur.modRevision, opts);
      } catch (e) {
        // A hint for an object that is gone, or validation against a stale hint: read and retry.
        if (cur.obj === hint && e instanceof ApiError && (e.code === 404 || e.code === 422)) {
          cur = await this.getStored(r, ns, name);
          continue;
        }
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      }
      if (!(done instanceof Conflict)) return done;
      cur = done.current;
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  private async getStored(
    r: ResourceType,
    ns: string | undefined,
    name: string,
  ): Promise<Stored | undefined> {
    try {
      return await this.store.get(etcdKey(r, ns, name));
    } catch (e) {
      return storageError(e);
    }
  }

  /** Carries the fields an update may not change over from the stored object. */
  private prepareUpdate(r: ResourceType, old: KubeObject, next: KubeObject, opts: WriteOptions): KubeObject {
    next.apiVersion = groupVersion(r);
    next.kind = r.kind;
    const m = next.metadata;
    m.name = old.metadata.name;
    if (r.namespaced) m.namespace = old.metadata.namespace;
    m.uid = old.metadata.uid;
    m.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp) {
      m.deletionTimestamp = old.metadata.deletionTimestamp;
      m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    if (opts.subresource === 'finalize') {
      // namespaces/NAME/finalize changes spec.finalizers and nothing else.
      const out = clone(old);
      out['spec'] = {
        ...(isRecord(old['spec']) ? old['spec'] : {}),
        finalizers: (isRecord(next['spec']) ? next['spec']['finalizers'] : undefined) ?? [],
      };
      return out;
    }
    if (opts.subresource === 'status') {
      // metav1.ResetObjectMetaForStatus plus "status updates change status only".
      const { status, ...rest } = next;
      const out: KubeObject = { ...clone(old), status };
      if (status === undefined) delete out['status'];
      out.metadata = clone(old.metadata);
      void rest;
      return out;
    }
    if (r.statusSubresource) {
      if (old['status'] === undefined) delete next['status'];
      else next['status'] = clone(old['status']);
    }
    if (r.resource === 'namespaces') next['spec'] = clone(old['spec']);
    if (r.tracksGeneration) {
      const gen = old.metadata.generation ?? 1;
      m.generation = isDeepStrictEqual(old['spec'], next['spec']) ? gen : gen + 1;
    } else if (old.metadata.generation !== undefined) m.generation = old.metadata.generation;
    return next;
  }

  private async writeUpdate(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    old: KubeObject,
    next: KubeObject,
    modRevision: number,
    opts: WriteOptions,
  ): Promise<KubeObject | Conflict> {
    if (r.resource === 'namespaces') this.namespaceCache.delete(name);
    const causes = validateUpdate(r.resource, next, old);
    if (causes.length > 0) throw invalid(r.kind, r.group, name, causes);
    const key = etcdKey(r, ns, name);
    // An object being deleted whose last finalizer was just removed goes away now
    // (generic registry Store.Update: shouldDeleteDuringUpdate).
    const finalizersDone =
      isDeleting(next) &&
      (next.metadata.finalizers ?? []).length === 0 &&
      (next.metadata.deletionGracePeriodSeconds ?? 0) === 0;
    const nsDone =
      r.resource === 'namespaces' &&
      isDeleting(next) &&
      ((next['spec'] as Namespace['spec'])?.finalizers ?? []).length === 0;
    if (finalizersDone && (r.resource !== 'namespaces' || nsDone)) {
      if (opts.dryRun) return next;
      let res;
      try {
        res = await this.store.delete(key, modRevision);
      } catch (e) {
        storageError(e);
      }
      if (res === 'notfound') throw notFound(r, name);
      if ('conflict' in res) return new Conflict(res.conflict);
      next.metadata.resourceVersion = String(res.revision);
      return next;
    }
    if (isDeepStrictEqual(stripRv(old), stripRv(next))) return old; // no-op update: nothing written, RV unchanged
    if (opts.dryRun) return next;
    let res;
    try {
      res = await this.store.update(key, next, modRevision);
    } catch (e) {
      storageError(e);
    }
    if (res === 'notfound') throw notFound(r, name);
    if ('conflict' in res) return new Conflict(res.conflict);
    next.metadata.resourceVersion = String(res.revision);
    return next;
  }

  /**
   * Deletes an object (DELETE). Returns the object and whether it is gone: a pod deleted
   * gracefully, or an object with finalizers, stays with a deletionTimestamp (deleted=false).
   * A hint (the object as the caller last read it) saves the first read, as kube's
   * conditionalDelete does with a cached object: the write is still conditional on its mod
   * revision, and a stale hint costs one retry.
   */
  async delete(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions = {},
    hint?: KubeObject,
  ): Promise<{ obj: KubeObject; deleted: boolean }> {
    if (opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds < 0)
      opts = { ...opts, gracePeriodSeconds: 1 };
    let cur = storedFromHint(r, ns, name, hint);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const fromHint = cur !== undefined && cur.obj === hint;
      cur ??= await this.getStored(r, ns, name);
      if (!cur) throw notFound(r, name);
      const obj = cur.obj;
      const pre = opts.preconditions;
      const failed =
        pre?.uid && pre.uid !== obj.metadata.uid
          ? `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid ?? ''}`
          : pre?.resourceVersion && pre.resourceVersion !== String(cur.modRevision)
            ? `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.modRevision}`
            : undefined;
      if (failed !== undefined) {
        // Preconditions are checked against the stored object, never against a possibly stale hint.
        if (fromHint) {
          cur = undefined;
          continue;
        }
        throw conflict(r, name, failed);
      }
      const next = clone(obj);
      let keep: boolean;
      if (r.resource === 'namespaces') {
        // Namespace deletion: mark Terminating; the namespace controller empties and finalizes it.
        if (!isDeleting(next)) {
          next.metadata.deletionTimestamp = this.now();
          next.metadata.deletionGracePeriodSeconds = 0;
        }
        next['status'] = { ...(isRecord(next['status']) ? next['status'] : {}), phase: 'Terminating' };
        keep =
          ((next['spec'] as Namespace['spec'])?.finalizers ?? []).length > 0 ||
          (next.metadata.finalizers ?? []).length > 0;
      } else {
        const g = this.gracefulDelete(r, next, opts);
        if (g === 'pending') return { obj, deleted: false };
        keep = g === 'graceful';
        const finalizers = this.propagationFinalizers(r, next, opts);
        if (finalizers.length > 0) next.metadata.finalizers = finalizers;
        if ((next.metadata.finalizers ?? []).length > 0) {
          keep = true;
          if (!isDeleting(next)) {
            next.metadata.deletionTimestamp = this.now();
            next.metadata.deletionGracePeriodSeconds = 0;
          }
        }
      }
      const key = etcdKey(r, ns, name);
      if (keep) {
        if (opts.dryRun) return { obj: next, deleted: false };
        if (next.metadata.generation !== undefined && !isDeleting(obj)) next.metadata.generation += 1;
        let res;
        try {
          res = await this.store.update(key, next, cur.modRevision);
        } catch (e) {
          storageError(e);
        }
        if (res === 'notfound') throw notFound(r, name);
        if ('conflict' in res) {
          if (pre?.resourceVersion && !fromHint) throw conflict(r, name, MODIFIED_MESSAGE);
          cur = res.conflict;
          continue;
        }
        next.metadata.resourceVersion = String(res.revision);
        // Admission must see the namespace Terminating from now on.
        if (r.resource === 'namespaces') this.namespaceCache.delete(name);
        return { obj: next, deleted: false };
      }
      if (opts.dryRun) return { obj, deleted: true };
      let res;
      try {
        res = await this.store.delete(key, cur.modRevision);
      } catch (e) {
        storageError(e);
      }
      if (res === 'notfound') throw notFound(r, name);
      if ('conflict' in res) {
        if (pre?.resourceVersion && !fromHint) throw conflict(r, name, MODIFIED_MESSAGE);
        cur = res.conflict;
        continue;
      }
      const gone = res.prev.obj;
      gone.metadata.resourceVersion = String(res.revision);
      return { obj: gone, deleted: true };
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /**
   * rest.BeforeDelete + podStrategy.CheckGracefulDelete: 'graceful' when next now carries a
   * future deletionTimestamp, 'pending' when a graceful deletion is already under way and not
   * shortened, 'now' when the object goes at once.
   */
  private gracefulDelete(
    r: ResourceType,
    next: KubeObject,
    opts: DeleteOptions,
  ): 'graceful' | 'pending' | 'now' {
    if (r.resource !== 'pods') return 'now';
    const m = next.metadata;
    if (m.deletionTimestamp) {
      const cur = m.deletionGracePeriodSeconds;
      if (cur === undefined || cur === 0) return 'now';
      if (opts.gracePeriodSeconds === undefined || opts.gracePeriodSeconds >= cur) return 'pending';
      const started = Date.parse(m.deletionTimestamp) - cur * 1000;
      m.deletionTimestamp = timestamp(new Date(started + opts.gracePeriodSeconds * 1000));
      m.deletionGracePeriodSeconds = opts.gracePeriodSeconds;
      return opts.gracePeriodSeconds === 0 && (m.finalizers ?? []).length === 0 ? 'now' : 'graceful';
    }
    const pod = next as Pod;
    let period = opts.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 0;
    if (!pod.spec.nodeName) period = 0;
    const phase = pod.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') period = 0;
    if (period < 0) period = 1;
    if (period === 0) return 'now';
    m.deletionTimestamp = timestamp(new Date(this.clock.now().getTime() + period * 1000));
    m.deletionGracePeriodSeconds = period;
    return 'graceful';
  }

  /** deletionFinalizersForGarbageCollection: orphan / foregroundDeletion finalizers per policy. */
  private propagationFinalizers(r: ResourceType, obj: KubeObject, opts: DeleteOptions): string[] {
    const cur = obj.metadata.finalizers ?? [];
    // batch/v1 Jobs orphan their pods by default (kept for backwards compatibility in kube).
    const policy = opts.propagationPolicy ?? (r.resource === 'jobs' ? 'Orphan' : 'Background');
    const without = cur.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
    if (policy === 'Orphan') return [...without, 'orphan'];
    if (policy === 'Foreground') return [...without, 'foregroundDeletion'];
    if (without.length !== cur.length) return without;
    return [];
  }

  /** Deletes every object a list selects (DELETE on a collection). */
  async deleteCollection(
    r: ResourceType,
    ns: string | undefined,
    list: ListOptions,
    opts: DeleteOptions,
  ): Promise<KubeObject[]> {
    const { items } = await this.list(r, ns, list);
    const out: KubeObject[] = [];
    for (const o of items) {
      try {
        out.push((await this.delete(r, o.metadata.namespace, o.metadata.name ?? '', opts)).obj);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  /** Removes spec.finalizers of a namespace (POST namespaces/NAME/finalize, done by the namespace controller). */
  async finalizeNamespace(name: string, finalizers: string[]): Promise<KubeObject | undefined> {
    const r = resourceByName('namespaces');
    return this.guaranteedUpdate(
      r,
      undefined,
      name,
      (cur) => {
        cur['spec'] = { ...(isRecord(cur['spec']) ? cur['spec'] : {}), finalizers };
        return cur;
      },
      { subresource: 'finalize' },
    ).catch((e: unknown) => {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    });
  }

  /** POST pods/NAME/binding: assigns a pod to a node, once. */
  async bind(
    ns: string,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
    hint?: KubeObject,
  ): Promise<StatusBody> {
    const r = resourceByName('pods');
    const target = isRecord(body) && isRecord(body['target']) ? body['target'] : undefined;
    const node = typeof target?.['name'] === 'string' ? target['name'] : '';
    if (!node)
      throw invalid('Binding', '', name, [
        { reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' },
      ]);
    const now = this.now();
    let cur = storedFromHint(r, ns, name, hint) ?? (await this.getStored(r, ns, name));
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      if (!cur) throw notFound(r, name);
      const pod = clone(cur.obj) as Pod;
      if (isDeleting(pod))
        throw conflict(r, name, `pod ${name} is being deleted, cannot be assigned to a host`);
      if (pod.spec.nodeName)
        throw conflict(r, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
      pod.spec.nodeName = node;
      const conds = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now });
      pod.status = { ...(pod.status ?? {}), conditions: conds };
      if (opts.dryRun) return { ...success(), code: 201 };
      let res;
      try {
        res = await this.store.update(etcdKey(r, ns, name), pod, cur.modRevision);
      } catch (e) {
        storageError(e);
      }
      if (res === 'notfound') throw notFound(r, name);
      if ('conflict' in res) {
        cur = res.conflict;
        continue;
      }
      return { ...success(), code: 201 };
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /** GET .../NAME/scale of a Deployment, ReplicaSet or StatefulSet (scale.ts). */
  async getScale(r: ResourceType, ns: string | undefined, name: string): Promise<Scale> {
    if (!SCALABLE_RESOURCES.has(r.resource)) throw notFound(r, name);
    return scaleOf(await this.get(r, ns, name));
  }

  /** PUT .../NAME/scale: the Scale's spec.replicas, with its resourceVersion as the precondition. */
  async updateScale(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: Pick<WriteOptions, 'dryRun'> = {},
  ): Promise<Scale> {
    if (!SCALABLE_RESOURCES.has(r.resource)) throw notFound(r, name);
    const want = readScale(name, body);
    const cur = await this.get(r, ns, name);
    return scaleOf(
      await this.update(r, ns, name, withReplicas(cur, want.replicas, want.resourceVersion), opts),
    );
  }

  /** PATCH .../NAME/scale: the patch applies to the Scale as it is now, then as updateScale. */
  async patchScale(
    r: ResourceType,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: Pick<WriteOptions, 'dryRun'> = {},
  ): Promise<Scale> {
    if (!SCALABLE_RESOURCES.has(r.resource)) throw notFound(r, name);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const cur = await this.get(r, ns, name);
      const scale = scaleOf(cur);
      let patched: unknown;
      try {
        if (type === 'json') patched = jsonPatch(scale, patch);
        else if (type === 'merge') patched = mergePatch(scale, patch);
        else patched = strategicMergePatch(scale, patch);
      } catch (e) {
        if (e instanceof PatchError) throw badRequest(e.message);
        throw e;
      }
      const want = readScale(name, patched);
      try {
        // The Scale's resourceVersion (the object's, unless the patch set another) guards the write.
        const next = withReplicas(
          cur,
          want.replicas,
          want.resourceVersion || (cur.metadata.resourceVersion ?? ''),
        );
        return scaleOf(await this.update(r, ns, name, next, opts));
      } catch (e) {
        // Someone wrote the object in between: apply the patch again to the Scale as it now is,
        // unless the patch itself named the resourceVersion.
        if (
          !(e instanceof ApiError && e.code === 409) ||
          want.resourceVersion !== scale.metadata.resourceVersion
        )
          throw e;
      }
    }
    throw conflict(r, name, MODIFIED_MESSAGE);
  }

  /**
   * POST pods/NAME/eviction, as pkg/registry/core/pod/storage/eviction.go does it: terminal,
   * pending or terminating pods are deleted without a PDB check; more than one PDB is a 500; a PDB
   * with no disruption allowed is a 429 with the DisruptionBudget cause; unhealthy pods follow the
   * PDB's unhealthyPodEvictionPolicy. The budget's decrement and its status.disruptedPods entry
   * are written whatever becomes of the request (kube uses context.TODO() there, retrying conflicts
   * every 500 ms), but the pod is read and deleted with the request's context: `signal` is that
   * context, and a client gone before the delete leaves the entry holding a running pod until the
   * disruption controller drops it (DeletionTimeout).
   */
  async evict(
    ns: string,
    name: string,
    body: unknown,
    opts: WriteOptions & { signal?: AbortSignal } = {},
  ): Promise<StatusBody> {
    const cancelled = (): void => {
      if (opts.signal?.aborted) throw internalError('context canceled');
    };
    cancelled();
    const pods = resourceByName('pods');
    if (!isRecord(body)) throw badRequest('not a Eviction object');
    const meta = isRecord(body['metadata']) ? body['metadata'] : {};
    if (meta['name'] !== name) throw badRequest('name in URL does not match name in Eviction object');
    const delOptsRaw = isRecord(body['deleteOptions']) ? body['deleteOptions'] : {};
    const dryRun =
      opts.dryRun === true || (Array.isArray(delOptsRaw['dryRun']) && delOptsRaw['dryRun'].includes('All'));
    const delOpts: DeleteOptions = { dryRun };
    if (typeof delOptsRaw['gracePeriodSeconds'] === 'number')
      delOpts.gracePeriodSeconds = delOptsRaw['gracePeriodSeconds'];
    if (isRecord(delOptsRaw['preconditions'])) {
      const p = delOptsRaw['preconditions'];
      delOpts.preconditions = {};
      if (typeof p['uid'] === 'string') delOpts.preconditions.uid = p['uid'];
      if (typeof p['resourceVersion'] === 'string')
        delOpts.preconditions.resourceVersion = p['resourceVersion'];
    }
    if (
      delOptsRaw['propagationPolicy'] === 'Orphan' ||
      delOptsRaw['propagationPolicy'] === 'Background' ||
      delOptsRaw['propagationPolicy'] === 'Foreground'
    ) {
      delOpts.propagationPolicy = delOptsRaw['propagationPolicy'];
    }
    // The eviction is a create of a subresource: NamespaceLifecycle refuses it in a terminating namespace.
    await this.checkNamespace(pods, ns, name);
    // The pod and the namespace's budgets in one read (kube reads the budgets from its watch cache).
    const pdbRes = resourceByName('poddisruptionbudgets');
    let read;
    try {
      read = await this.store.getWithPrefix(etcdKey(pods, ns, name), etcdListPrefix(pdbRes, ns));
    } catch (e) {
      storageError(e);
    }
    if (!read.obj) throw notFound(pods, name);
    const pod = read.obj.obj as Pod;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || isDeleting(pod)) {
      const enforce = !(phase === 'Succeeded' || phase === 'Failed' || isDeleting(pod));
      const o = { ...delOpts };
      if (enforce && !o.preconditions?.resourceVersion)
        o.preconditions = { ...(o.preconditions ?? {}), resourceVersion: pod.metadata.resourceVersion ?? '' };
      await this.delete(pods, ns, name, o, pod);
      return { ...success(), code: 201 };
    }
    const pdbs = read.items
      .map((i) => i.obj as PodDisruptionBudget)
      .filter((p) => {
        const sel = fromLabelSelector(p.spec.selector);
        // "If a PDB with a nil or empty selector creeps in, it should match nothing, not everything."
        return !isEverything(sel) && matches(sel, pod.metadata.labels);
      });
    if (pdbs.length > 1) {
      throw internalError(
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
      );
    }
    let enforceRv = false;
    const pdb = pdbs[0];
    if (pdb) {
      const st = pdb.status ?? {
        disruptionsAllowed: 0,
        currentHealthy: 0,
        desiredHealthy: 0,
        expectedPods: 0,
      };
      const unhealthySkip =
        !isPodReady(pod) &&
        (pdb.spec.unhealthyPodEvictionPolicy === 'AlwaysAllow' ||
          (st.currentHealthy >= st.desiredHealthy && st.desiredHealthy > 0));
      if (unhealthySkip) enforceRv = true;
      else await this.checkAndDecrement(pdb, name, dryRun);
    }
    cancelled();
    const o = { ...delOpts };
    if (enforceRv && !o.preconditions?.resourceVersion)
      o.preconditions = { ...(o.preconditions ?? {}), resourceVersion: pod.metadata.resourceVersion ?? '' };
    try {
      await this.delete(pods, ns, name, o, pod);
    } catch (e) {
      if (
        e instanceof ApiError &&
        e.code === 409 &&
        enforceRv &&
        !delOpts.preconditions?.resourceVersion &&
        pdb
      ) {
        throw tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10, [
          {
            reason: 'DisruptionBudget',
            message: `The disruption budget ${pdb.metadata.name ?? ''} is still being processed by the server.`,
          },
        ]);
      }
      throw e;
    }
    return { ...success(), code: 201 };
  }

  private async checkAndDecrement(
    pdb0: PodDisruptionBudget,
    podName: string,
    dryRun: boolean,
  ): Promise<void> {
    const r = resourceByName('poddisruptionbudgets');
    let pdb = pdb0;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const verdict = computePdbStatusForEviction(pdb, podName, this.now());
      if (verdict.kind === 'processing') {
        throw tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10, [
          {
            reason: 'DisruptionBudget',
            message: `The disruption budget ${pdb.metadata.name ?? ''} is still being processed by the server.`,
          },
        ]);
      }
      if (verdict.kind === 'forbidden')
        throw forbidden(
          { group: 'policy', resource: 'poddisruptionbudget' },
          pdb.metadata.name ?? '',
          verdict.message,
        );
      if (verdict.kind === 'blocked') {
        throw tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0, [
          { reason: 'DisruptionBudget', message: verdict.message },
        ]);
      }
      if (dryRun) return;
      let res;
      try {
        res = await this.store.update(
          etcdKey(r, pdb.metadata.namespace, pdb.metadata.name ?? ''),
          verdict.next,
          Number(pdb.metadata.resourceVersion),
        );
      } catch (e) {
        storageError(e);
      }
      if (res === 'notfound') throw notFound(r, pdb.metadata.name ?? '');
      if ('conflict' in res) {
        pdb = res.conflict.obj as PodDisruptionBudget;
        // EvictionsRetry: 500 ms steps with 10% jitter between attempts.
        await this.clock.sleep(EVICTION_RETRY_MS * (1 + Math.random() * 0.1));
        continue;
      }
      return;
    }
    throw conflict(r, pdb.metadata.name ?? '', MODIFIED_MESSAGE);
  }

  /**
   * Watches a resource from a resourceVersion. With rv "" or "0" the current objects come first
   * as ADDED events. Selector transitions become ADDED/DELETED, as kube's etcd3 watcher sends
   * them. A compacted rv answers a 410 Expired error. Returns a cancel function.
   */
  async watch(
    r: ResourceType,
    ns: string | undefined,
    opts: ListOptions & { sendInitialEvents?: boolean },
    onEvent: (ev: WatchEvent) => void,
    onClose: (err?: ApiError) => void,
  ): Promise<() => void> {
    const { labels, fields } = parseSelectors(r, opts);
    const prefix = etcdListPrefix(r, ns);
    let from = parseRv(opts.resourceVersion);
    const matches = (o: KubeObject): boolean => objectMatches(r, o, labels, fields);
    if (from === 0 || opts.sendInitialEvents) {
      let page;
      try {
        page = await this.store.list(prefix);
      } catch (e) {
        storageError(e);
      }
      for (const s of page.items) if (matches(s.obj)) onEvent({ type: 'ADDED', object: s.obj });
      from = page.revision;
      // A streaming list (sendInitialEvents=true, client-go's WatchList): the initial state ends
      // with a bookmark carrying the k8s.io/initial-events-end annotation.
      if (opts.sendInitialEvents) {
        onEvent({
          type: 'BOOKMARK',
          object: {
            kind: r.kind,
            apiVersion: groupVersion(r),
            metadata: { resourceVersion: String(from), annotations: { 'k8s.io/initial-events-end': 'true' } },
          },
        });
      }
    }
    const handle = (ev: StoreEvent): void => {
      if (ev.type === 'delete') {
        if (matches(ev.obj)) onEvent({ type: 'DELETED', object: ev.obj });
        return;
      }
      const cur = matches(ev.obj);
      const prev = ev.prev !== undefined && matches(ev.prev);
      if (cur && prev) onEvent({ type: 'MODIFIED', object: ev.obj });
      else if (cur) onEvent({ type: 'ADDED', object: ev.obj });
      else if (prev && ev.prev) {
        ev.prev.metadata.resourceVersion = String(ev.revision);
        onEvent({ type: 'DELETED', object: ev.prev });
      }
    };
    try {
      return await this.store.watch(prefix, from, handle, (e) => {
        if (e instanceof CompactedError) onClose(expired(e.message));
        else onClose(internalError(`watch of ${r.resource} ended: ${e.message}`));
      });
    } catch (e) {
      if (e instanceof CompactedError) throw expired(e.message);
      return storageError(e);
    }
  }
}

function stripRv(o: KubeObject): KubeObject {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  return { ...o, metadata };
}

/** True for mirror pods; re-exported for the HTTP layer. */
export { isMirrorPod };
