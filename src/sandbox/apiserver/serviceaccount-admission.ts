// The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount), on pod create: a
// mirror pod may not name a ServiceAccount; any other pod runs as spec.serviceAccountName
// ("default" unless set), which must exist (the default one is looked up ten times, 100 to 200 ms
// apart, since the serviceaccounts controller creates it just after its namespace); unless
// automountServiceAccountToken is false (on the pod, else on the ServiceAccount), every container
// gets the projected volume kube-api-access-XXXXX at /var/run/secrets/kubernetes.io/serviceaccount
// holding a token the kubelet requests (3607 s), the cluster CA from the kube-root-ca.crt
// ConfigMap and the namespace; and a pod without imagePullSecrets gets the ServiceAccount's.
import { randomSuffix } from './meta.ts';
import { forbidden, notFound } from './status.ts';
import type { Container, KubeObject, Pod } from './types.ts';
import { isRecord } from './types.ts';

/** Where a ServiceAccount's token is mounted in every container. */
export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The prefix of the projected volume's name. */
export const SERVICE_ACCOUNT_VOLUME_PREFIX = 'kube-api-access-';
/** The ConfigMap the root CA publisher keeps in every namespace. */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

/** The projected volume source the plugin mounts (TokenVolumeSource). */
export function tokenVolumeSource(): Record<string, unknown> {
  return {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
        },
      },
    ],
  };
}

/** Reads a ServiceAccount (undefined when there is none). */
export type ServiceAccountLookup = (namespace: string, name: string) => Promise<KubeObject | undefined>;

/** How the plugin waits between lookups of the default ServiceAccount. */
export type Sleep = (ms: number) => Promise<void>;

function isMirror(pod: Pod): boolean {
  return pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined;
}

/**
 * Admits a pod being created in namespace: mutates it, or throws kube's 403/404.
 * @param lookup reads the ServiceAccount (kube: its informer, then the API).
 */
export async function admitServiceAccount(
  pod: Pod,
  namespace: string,
  lookup: ServiceAccountLookup,
  sleep: Sleep,
): Promise<void> {
  const pods = { group: '', resource: 'pods' };
  const name = pod.metadata.name ?? '';
  if (isMirror(pod)) {
    if (pod.spec.serviceAccountName)
      throw forbidden(pods, name, 'a mirror pod may not reference service accounts');
    return;
  }
  const saName = pod.spec.serviceAccountName || 'default';
  pod.spec.serviceAccountName = saName;
  let sa = await lookup(namespace, saName);
  for (let i = 1; !sa && saName === 'default' && i < 10; i++) {
    await sleep(100 + Math.floor(Math.random() * 100));
    sa = await lookup(namespace, saName);
  }
  if (!sa)
    throw forbidden(
      pods,
      name,
      `error looking up service account ${namespace}/${saName}: ${notFound({ group: '', resource: 'serviceaccount' }, saName).message}`,
    );
  const automount =
    typeof pod.spec['automountServiceAccountToken'] === 'boolean'
      ? pod.spec['automountServiceAccountToken']
      : typeof sa['automountServiceAccountToken'] === 'boolean'
        ? sa['automountServiceAccountToken']
        : true;
  if (automount) mountToken(pod);
  const pull = sa['imagePullSecrets'];
  const podPull = pod.spec['imagePullSecrets'];
  if ((!Array.isArray(podPull) || podPull.length === 0) && Array.isArray(pull) && pull.length > 0)
    pod.spec['imagePullSecrets'] = structuredClone(pull);
}

function mountToken(pod: Pod): void {
  const volumes = pod.spec.volumes ?? [];
  const names = new Set(volumes.map((v) => v.name));
  let volumeName = `${SERVICE_ACCOUNT_VOLUME_PREFIX}${randomSuffix(5)}`;
  while (names.has(volumeName)) volumeName = `${SERVICE_ACCOUNT_VOLUME_PREFIX}${randomSuffix(5)}`;
  const mount = { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
  let needed = false;
  const add = (containers: Container[] | undefined): void => {
    for (const c of containers ?? []) {
      const mounts = (Array.isArray(c['volumeMounts']) ? c['volumeMounts'] : []) as unknown[];
      if (mounts.some((m) => isRecord(m) && m['mountPath'] === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
      c['volumeMounts'] = [...mounts, { ...mount }];
      needed = true;
    }
  };
  add(pod.spec.initContainers);
  add(pod.spec.containers);
  if (needed) pod.spec.volumes = [...volumes, { name: volumeName, projected: tokenVolumeSource() }];
}
