// ControllerRevisions as the DaemonSet and StatefulSet controllers keep them (pkg/controller/history):
// one per distinct pod template, named `<owner>-<hash>`, labelled with controller-revision-hash,
// holding the template as a `$patch: replace` patch and a revision number; a template seen again
// (a rollback) gets its old revision renumbered as the newest. Old revisions no pod uses are
// trimmed to revisionHistoryLimit.
import { controllerRef } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeObject, PodTemplateSpec } from '../apiserver/types.ts';
import { controllerRefOf, isApiError } from './base.ts';
import type { OwnerKind } from './claims.ts';
import type { ControllerContext } from './context.ts';
import { canonicalJson, computeHash } from './hash.ts';

const revisions = resource('controllerrevisions');

/** The label a controller's pods and revisions carry. */
export const REVISION_HASH_LABEL = 'controller-revision-hash';

/** A ControllerRevision. */
export interface ControllerRevision extends KubeObject {
  data?: unknown;
  revision: number;
}

/** The revision data kube stores for a workload's template. */
function revisionData(template: PodTemplateSpec): unknown {
  return { spec: { template: { ...template, $patch: 'replace' } } };
}

/** The owner's revisions from the informer cache, oldest revision first. */
export function ownedRevisions(ctx: ControllerContext, owner: KubeObject): ControllerRevision[] {
  return (ctx.informers.controllerrevisions.list(owner.metadata.namespace) as ControllerRevision[])
    .filter((r) => controllerRefOf(r)?.uid === owner.metadata.uid)
    .sort((a, b) => a.revision - b.revision);
}

/**
 * The current revision for the owner's template: found by equal data, or created. Returns its
 * name, hash and revision number.
 */
export async function ensureRevision(
  ctx: ControllerContext,
  owner: KubeObject,
  kind: OwnerKind,
  template: PodTemplateSpec,
  collisionCount: number | undefined,
): Promise<{ name: string; hash: string; revision: number }> {
  const existing = ownedRevisions(ctx, owner);
  const data = revisionData(template);
  const max = existing.reduce((m, r) => Math.max(m, r.revision), 0);
  const same = existing.find((r) => canonicalJson(r.data) === canonicalJson(data));
  const hashOf = (r: ControllerRevision): string =>
    r.metadata.labels?.[REVISION_HASH_LABEL] ??
    (r.metadata.name ?? '').slice((owner.metadata.name ?? '').length + 1);
  if (same) {
    if (same.revision < max) {
      const updated = (await ctx.api.guaranteedUpdate(
        revisions,
        same.metadata.namespace,
        same.metadata.name ?? '',
        (cur) => {
          (cur as ControllerRevision).revision = max + 1;
          return cur;
        },
      )) as ControllerRevision | undefined;
      return { name: same.metadata.name ?? '', hash: hashOf(same), revision: updated?.revision ?? max + 1 };
    }
    return { name: same.metadata.name ?? '', hash: hashOf(same), revision: same.revision };
  }
  const hash = computeHash(template, collisionCount);
  const name = `${owner.metadata.name ?? ''}-${hash}`;
  const rev: ControllerRevision = {
    metadata: {
      name,
      namespace: owner.metadata.namespace ?? '',
      labels: { ...(template.metadata?.labels ?? {}), [REVISION_HASH_LABEL]: hash },
      ownerReferences: [controllerRef(owner, kind.apiVersion, kind.kind)],
    },
    data,
    revision: max + 1,
  };
  try {
    await ctx.api.create(revisions, owner.metadata.namespace, rev);
  } catch (e) {
    if (!isApiError(e, 409)) throw e;
    // Created by an earlier sync whose informer event has not arrived yet, or a true collision.
    const cur = (await ctx.api.tryGet(revisions, owner.metadata.namespace, name)) as
      ControllerRevision | undefined;
    if (
      !cur ||
      controllerRefOf(cur)?.uid !== owner.metadata.uid ||
      canonicalJson(cur.data) !== canonicalJson(data)
    )
      throw e;
    return { name, hash, revision: cur.revision };
  }
  return { name, hash, revision: max + 1 };
}

/** Deletes the oldest revisions beyond limit that are neither current nor used by a live pod. */
export async function trimRevisions(
  ctx: ControllerContext,
  owner: KubeObject,
  limit: number,
  keep: ReadonlySet<string>,
): Promise<void> {
  const live = ownedRevisions(ctx, owner).filter(
    (r) => !keep.has(r.metadata.name ?? '') && !keep.has(r.metadata.labels?.[REVISION_HASH_LABEL] ?? ''),
  );
  const extra = live.length - limit;
  for (const r of live.slice(0, Math.max(0, extra))) {
    try {
      await ctx.api.delete(revisions, r.metadata.namespace, r.metadata.name ?? '', {
        preconditions: { uid: r.metadata.uid ?? '' },
      });
    } catch (e) {
      if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
    }
  }
}
