// controller.ControllerRefManager for the sandbox: a controller claims the objects its selector
// matches. It keeps those it controls that still match, releases those that no longer match
// (removes its owner reference) and adopts orphans that match (adds itself as controller), never
// while it is itself being deleted. Plus building a pod from a template (GetPodFromTemplate) and
// the write that removes some owner references.
import { clone, controllerRef, isDeleting } from '../apiserver/meta.ts';
import type { ResourceType } from '../apiserver/resources.ts';
import { matches, type Selector } from '../../kube/labels.ts';
import type { KubeObject, Pod, PodTemplateSpec } from '../apiserver/types.ts';
import type { OwnerReference } from '../../kube/types.ts';
import { isApiError } from './base.ts';
import type { ControllerContext } from './context.ts';

/** The owner's API identity, for owner references. */
export interface OwnerKind {
  apiVersion: string;
  kind: string;
}

/**
 * ClaimObjects: returns the objects owner controls after adopting matching orphans and releasing
 * non-matching dependents. `controlled` are the candidates owner currently controls; `orphans`
 * those without a controller in owner's namespace.
 */
export async function claim<T extends KubeObject>(
  ctx: ControllerContext,
  r: ResourceType,
  owner: KubeObject,
  kind: OwnerKind,
  selector: Selector,
  controlled: readonly T[],
  orphans: readonly T[],
): Promise<T[]> {
  const uid = owner.metadata.uid ?? '';
  const out: T[] = [];
  const deleting = isDeleting(owner);
  for (const o of controlled) {
    if (matches(selector, o.metadata.labels) || deleting) {
      out.push(o);
      continue;
    }
    if (isDeleting(o)) continue;
    await removeOwnerRefs(ctx, r, o, [uid]);
  }
  if (deleting) return out;
  for (const o of orphans) {
    if (isDeleting(o) || !matches(selector, o.metadata.labels)) continue;
    if (o.metadata.namespace !== owner.metadata.namespace) continue;
    const adopted = await adopt(ctx, r, o, controllerRef(owner, kind.apiVersion, kind.kind));
    if (adopted) out.push(adopted as T);
  }
  return out;
}

async function adopt(
  ctx: ControllerContext,
  r: ResourceType,
  o: KubeObject,
  ref: OwnerReference,
): Promise<KubeObject | undefined> {
  try {
    return await ctx.api.guaranteedUpdate(r, o.metadata.namespace, o.metadata.name ?? '', (cur) => {
      if (cur.metadata.uid !== o.metadata.uid || isDeleting(cur)) return undefined;
      if ((cur.metadata.ownerReferences ?? []).some((x) => x.controller === true)) return undefined;
      cur.metadata.ownerReferences = [
        ...(cur.metadata.ownerReferences ?? []).filter((x) => x.uid !== ref.uid),
        ref,
      ];
      return cur;
    });
  } catch (e) {
    if (isApiError(e, 404)) return undefined;
    throw e;
  }
}

/** Removes the owner references to these uids from o (orphaning or releasing it). */
export async function removeOwnerRefs(
  ctx: ControllerContext,
  r: ResourceType,
  o: KubeObject,
  uids: readonly string[],
): Promise<void> {
  try {
    await ctx.api.guaranteedUpdate(r, o.metadata.namespace, o.metadata.name ?? '', (cur) => {
      if (cur.metadata.uid !== o.metadata.uid) return undefined;
      const refs = cur.metadata.ownerReferences ?? [];
      const kept = refs.filter((x) => !uids.includes(x.uid));
      if (kept.length === refs.length) return undefined;
      if (kept.length > 0) cur.metadata.ownerReferences = kept;
      else delete cur.metadata.ownerReferences;
      return cur;
    });
  } catch (e) {
    if (!isApiError(e, 404)) throw e;
  }
}

/** controller.GetPodFromTemplate: a pod named `<prefix>` + 5 random characters, controlled by owner. */
export function podFromTemplate(
  template: PodTemplateSpec,
  owner: KubeObject,
  kind: OwnerKind,
  generateName: string,
): Pod {
  const t = clone(template);
  const meta = t.metadata ?? {};
  return {
    metadata: {
      generateName,
      ...(meta.labels ? { labels: meta.labels } : {}),
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
      ...(meta.finalizers ? { finalizers: meta.finalizers } : {}),
      ownerReferences: [controllerRef(owner, kind.apiVersion, kind.kind)],
    },
    spec: t.spec,
  };
}

/** Deletes the zero-valued members that Go's `omitempty` leaves out of a status. */
export function omitZero<T extends Record<string, unknown>>(status: T, keys: readonly (keyof T)[]): T {
  const out = { ...status };
  for (const k of keys) if (out[k] === 0 || out[k] === undefined) delete out[k];
  return out;
}
