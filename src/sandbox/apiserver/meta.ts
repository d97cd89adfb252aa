// Object metadata helpers shared by the API layer and the controllers: timestamps in the wire
// format, UIDs, generateName suffixes, deep copies.
import { randomUUID } from 'node:crypto';
import type { KubeObject, ObjectMeta } from './types.ts';
import type { OwnerReference } from '../../kube/types.ts';

/** metav1.Time on the wire: RFC 3339 with second precision, UTC ("2025-01-02T03:04:05Z"). */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime on the wire (Lease renewTime, Event eventTime). */
export function microTimestamp(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

/** A new object UID. */
export function newUid(): string {
  return randomUUID();
}

// k8s.io/apimachinery/pkg/util/rand: consonants and digits that cannot spell words.
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** A random suffix of n characters as the API server appends to generateName (5) or a pod-template-hash (10). */
export function randomSuffix(n: number, rand: () => number = Math.random): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHANUMS[Math.floor(rand() * ALPHANUMS.length)] ?? 'x';
  return s;
}

/** A deep copy of a JSON object. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** The name of an object (empty when unset). */
export function nameOf(o: KubeObject): string {
  return o.metadata.name ?? '';
}

/** "ns/name" or "name". */
export function keyOf(o: { metadata: ObjectMeta }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata.name ?? '');
}

/** An owner reference that makes owner the controller of a dependent (metav1.NewControllerRef). */
export function controllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Is the object marked for deletion? */
export function isDeleting(o: KubeObject): boolean {
  return o.metadata.deletionTimestamp !== undefined && o.metadata.deletionTimestamp !== null;
}
