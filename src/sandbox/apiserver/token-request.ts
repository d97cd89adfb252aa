// POST serviceaccounts/NAME/token: the TokenRequest API (pkg/registry/core/serviceaccount/storage/
// token.go). The spec is defaulted (an hour; the API server's audiences) and validated (ten minutes
// to 2^32 seconds), the bound object (a Pod, Secret or Node) is read and must match the uid given,
// a pod-bound token also names the pod's node, and a token the kubelet asks for with its TTL of
// 3607 s is issued for a year with a warnafter (--service-account-extend-token-expiration, on by
// default) while the answer still says 3607 s, so the kubelet refreshes it on time. Nothing is
// stored: the answer carries the token.
import type { ApiCore } from './api.ts';
import { resource } from './resources.ts';
import { badRequest, conflict, invalid, notFound } from './status.ts';
import {
  EXPIRATION_EXTENSION_SECONDS,
  issueToken,
  MAX_TOKEN_SECONDS,
  MIN_TOKEN_SECONDS,
  WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS,
  type ClaimRef,
  type TokenKeys,
} from './tokens.ts';
import { isRecord, type KubeObject, type Pod } from './types.ts';

/** authentication.k8s.io/v1 TokenRequest as answered. */
export interface TokenRequestObject {
  kind: 'TokenRequest';
  apiVersion: 'authentication.k8s.io/v1';
  metadata: { name: string; namespace: string; creationTimestamp: null };
  spec: {
    audiences: string[];
    expirationSeconds: number;
    boundObjectRef: { kind?: string; apiVersion?: string; name?: string; uid?: string } | null;
  };
  status: { token: string; expirationTimestamp: string };
}

function ref(o: KubeObject): ClaimRef {
  return { name: o.metadata.name ?? '', uid: o.metadata.uid ?? '' };
}

/** Validates and answers a TokenRequest for ServiceAccount NAMESPACE/NAME at `now`. */
export async function createTokenRequest(
  api: ApiCore,
  keys: TokenKeys,
  namespace: string,
  name: string,
  body: unknown,
  now: Date,
): Promise<TokenRequestObject> {
  const b = isRecord(body) ? body : {};
  const meta = isRecord(b['metadata']) ? b['metadata'] : {};
  if (typeof meta['namespace'] === 'string' && meta['namespace'] !== '' && meta['namespace'] !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const spec = isRecord(b['spec']) ? b['spec'] : {};
  const audiences = Array.isArray(spec['audiences'])
    ? spec['audiences'].filter((a): a is string => typeof a === 'string')
    : [];
  const expirationSeconds = typeof spec['expirationSeconds'] === 'number' ? spec['expirationSeconds'] : 3600;
  if (expirationSeconds < MIN_TOKEN_SECONDS)
    throw invalid('TokenRequest', 'authentication.k8s.io', name, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
      },
    ]);
  if (expirationSeconds > MAX_TOKEN_SECONDS)
    throw invalid('TokenRequest', 'authentication.k8s.io', name, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`,
      },
    ]);
  const sa = await api.get(resource('serviceaccounts'), namespace, name);
  const bound = isRecord(spec['boundObjectRef']) ? spec['boundObjectRef'] : undefined;
  let pod: ClaimRef | undefined;
  let node: ClaimRef | undefined;
  let secret: ClaimRef | undefined;
  let boundObjectRef: TokenRequestObject['spec']['boundObjectRef'] = null;
  if (bound) {
    const kind = typeof bound['kind'] === 'string' ? bound['kind'] : '';
    const apiVersion = typeof bound['apiVersion'] === 'string' ? bound['apiVersion'] : '';
    const refName = typeof bound['name'] === 'string' ? bound['name'] : '';
    const refUid = typeof bound['uid'] === 'string' ? bound['uid'] : '';
    const group = apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
    boundObjectRef = { kind, apiVersion, name: refName, ...(refUid ? { uid: refUid } : {}) };
    let uid: string;
    if (group === '' && kind === 'Pod') {
      const p = (await api.get(resource('pods'), namespace, refName)) as Pod;
      if (name !== p.spec.serviceAccountName)
        throw badRequest(
          `cannot bind token for serviceaccount "${name}" to pod running with serviceaccount "${p.spec.serviceAccountName ?? ''}"`,
        );
      pod = ref(p);
      uid = pod.uid;
      if (p.spec.nodeName) {
        const n = await api.tryGet(resource('nodes'), undefined, p.spec.nodeName);
        if (!n) throw notFound(resource('nodes'), p.spec.nodeName);
        node = ref(n);
      }
    } else if (group === '' && kind === 'Secret') {
      secret = ref(await api.get(resource('secrets'), namespace, refName));
      uid = secret.uid;
    } else if (group === '' && kind === 'Node') {
      node = ref(await api.get(resource('nodes'), undefined, refName));
      uid = node.uid;
    } else {
      throw badRequest(
        `cannot bind token to object of type ${group}/${apiVersion.split('/').at(-1) ?? ''}, Kind=${kind}`,
      );
    }
    if (refUid !== '' && refUid !== uid)
      throw conflict(
        { group, resource: kind },
        refName,
        `the UID in the bound object reference (${refUid}) does not match the UID in record (${uid}). The object might have been deleted and then recreated`,
      );
  }
  const auds = audiences.length > 0 ? audiences : keys.audiences;
  const kubeAudiences =
    auds.length === keys.audiences.length && auds.every((a) => keys.audiences.includes(a));
  let lifetime = expirationSeconds;
  let warnAfterSeconds: number | undefined;
  if (pod && expirationSeconds === WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS && kubeAudiences) {
    warnAfterSeconds = expirationSeconds;
    lifetime = EXPIRATION_EXTENSION_SECONDS;
  }
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const { token } = issueToken(keys, {
    namespace,
    serviceAccount: ref(sa),
    audiences: auds,
    expirationSeconds: lifetime,
    ...(warnAfterSeconds ? { warnAfterSeconds } : {}),
    ...(pod ? { pod } : {}),
    ...(node ? { node } : {}),
    ...(secret ? { secret } : {}),
    now: nowSeconds,
  });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: null },
    spec: { audiences: auds, expirationSeconds, boundObjectRef },
    status: {
      token,
      expirationTimestamp: new Date((nowSeconds + expirationSeconds) * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
    },
  };
}
