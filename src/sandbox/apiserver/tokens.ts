// ServiceAccount tokens as kube-apiserver issues and checks them (pkg/serviceaccount jwt.go and
// claims.go, pkg/registry/core/serviceaccount/storage/token.go): JWTs signed with the cluster's
// sa.key (ES256 for an ECDSA P-256 key, RS256 for RSA) carrying the key id kube derives from the
// public key, the issuer of --service-account-issuer, the audiences asked for (the API server's own
// by default), iat/nbf/exp, a jti, and the private "kubernetes.io" claims naming the namespace, the
// ServiceAccount and the object the token is bound to (a Pod, with its Node, a Secret or a Node).
// The authenticator accepts a token only when its issuer is ours, its signature verifies against
// sa.pub, one of its audiences is the API server's, it has not expired (a minute of leeway), and
// the ServiceAccount and the bound object still exist with the uids in the claims. It never logs a
// token.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { serviceAccountUsername, type UserInfo } from './rbac.ts';

/** Seconds kube adds either side of exp and nbf (go-jose's jwt.DefaultLeeway). */
export const LEEWAY_SECONDS = 60;
/** The kubelet asks for this TTL; kube-apiserver then issues a token valid for a year that warns after this. */
export const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 60 * 60 + 7;
/** How long such an extended token lives (ExpirationExtensionSeconds). */
export const EXPIRATION_EXTENSION_SECONDS = 24 * 365 * 60 * 60;
/** validation.MinTokenAgeSec and MaxTokenAgeSec of a TokenRequest. */
export const MIN_TOKEN_SECONDS = 10 * 60;
export const MAX_TOKEN_SECONDS = 2 ** 32;

/** A reference to an object in the private claims. */
export interface ClaimRef {
  name: string;
  uid: string;
}

/** The payload of a ServiceAccount token. */
export interface TokenClaims {
  aud: string[];
  exp: number;
  iat: number;
  iss: string;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: ClaimRef;
    pod?: ClaimRef;
    secret?: ClaimRef;
    node?: ClaimRef;
    warnafter?: number;
  };
  nbf: number;
  sub: string;
}

/** The key pair and identity an API server signs and checks tokens with. */
export interface TokenKeys {
  /** --service-account-issuer (the first one signs; all are accepted). */
  issuers: string[];
  /** --api-audiences (kube's default: the issuer). */
  audiences: string[];
  /** --service-account-signing-key-file. */
  signingKey: KeyObject;
  /** --service-account-key-file: the keys tokens may be signed with. */
  publicKeys: KeyObject[];
}

/** Reads the keys from PEM text (sa.key, sa.pub). */
export function tokenKeys(opts: {
  issuers: string[];
  audiences?: string[];
  signingKeyPem: string | Buffer;
  publicKeyPems: (string | Buffer)[];
}): TokenKeys {
  return {
    issuers: opts.issuers,
    audiences: opts.audiences && opts.audiences.length > 0 ? opts.audiences : opts.issuers.slice(0, 1),
    signingKey: createPrivateKey(opts.signingKeyPem),
    publicKeys: opts.publicKeyPems.map((p) => createPublicKey(p)),
  };
}

/** keyIDFromPublicKey: base64url(sha256(DER SubjectPublicKeyInfo)). */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
}

function algorithmOf(key: KeyObject): 'ES256' | 'ES384' | 'ES512' | 'RS256' {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    if (curve === 'secp521r1' || curve === 'P-521') return 'ES512';
  }
  throw new Error(`unsupported service account key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

const HASH: Record<string, string> = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', RS256: 'sha256' };

/** JSON with sorted keys at every level, as Go marshals the merged claims map. */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Signs claims into a compact JWS with the signing key. */
export function signToken(keys: TokenKeys, claims: TokenClaims): string {
  const alg = algorithmOf(keys.signingKey);
  const header = Buffer.from(JSON.stringify({ alg, kid: keyId(keys.signingKey) })).toString('base64url');
  const payload = Buffer.from(sortedJson(claims)).toString('base64url');
  const input = `${header}.${payload}`;
  const sig = sign(HASH[alg] ?? 'sha256', Buffer.from(input), {
    key: keys.signingKey,
    ...(alg === 'RS256' ? {} : { dsaEncoding: 'ieee-p1363' as const }),
  });
  return `${input}.${sig.toString('base64url')}`;
}

/** What a token is bound to and for how long, as a TokenRequest asks. */
export interface IssueRequest {
  namespace: string;
  serviceAccount: ClaimRef;
  audiences: string[];
  /** Seconds the token lives (after any extension). */
  expirationSeconds: number;
  /** Seconds after which a kubelet-extended token counts as stale (warnafter). */
  warnAfterSeconds?: number;
  pod?: ClaimRef;
  node?: ClaimRef;
  secret?: ClaimRef;
  /** Seconds since the epoch. */
  now: number;
}

/** Builds and signs a token (token.Claims + GenerateToken). */
export function issueToken(keys: TokenKeys, r: IssueRequest): { token: string; claims: TokenClaims } {
  const k8s: TokenClaims['kubernetes.io'] = { namespace: r.namespace, serviceaccount: r.serviceAccount };
  if (r.pod) {
    k8s.pod = r.pod;
    if (r.node) k8s.node = r.node;
  } else if (r.secret) k8s.secret = r.secret;
  else if (r.node) k8s.node = r.node;
  if (r.warnAfterSeconds) k8s.warnafter = r.now + r.warnAfterSeconds;
  const claims: TokenClaims = {
    aud: r.audiences,
    exp: r.now + r.expirationSeconds,
    iat: r.now,
    iss: keys.issuers[0] ?? '',
    jti: randomUUID(),
    'kubernetes.io': k8s,
    nbf: r.now,
    sub: serviceAccountUsername(r.namespace, r.serviceAccount.name),
  };
  return { token: signToken(keys, claims), claims };
}

/** A token that is not ours (wrong issuer, not a JWT): another authenticator may try it. */
export class NotOurToken extends Error {}

/** A token that is ours and invalid: the request is refused with 401. */
export class InvalidToken extends Error {}

function b64json(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a token's form, issuer, signature, audiences and times; returns its claims. Does not
 * look the ServiceAccount up (validateBinding does).
 * @throws NotOurToken when the token is not a JWT of one of our issuers; InvalidToken otherwise.
 */
export function verifyToken(keys: TokenKeys, token: string, nowSeconds: number): TokenClaims {
  if (token.trim().startsWith('{')) throw new NotOurToken('not a compact JWT');
  const parts = token.split('.');
  if (parts.length !== 3) throw new NotOurToken('not a compact JWT');
  let header: unknown;
  let payload: unknown;
  try {
    header = b64json(parts[0] ?? '');
    payload = b64json(parts[1] ?? '');
  } catch {
    throw new NotOurToken('not a JWT');
  }
  if (!isRecord(payload) || typeof payload['iss'] !== 'string' || !keys.issuers.includes(payload['iss']))
    throw new NotOurToken('issuer is not ours');
  if (!isRecord(header) || typeof header['alg'] !== 'string') throw new InvalidToken('malformed JWT header');
  const kid = typeof header['kid'] === 'string' ? header['kid'] : '';
  const candidates = kid ? keys.publicKeys.filter((k) => keyId(k) === kid) : keys.publicKeys;
  if (candidates.length === 0) throw new InvalidToken('invalid signature, no keys found');
  const input = Buffer.from(`${parts[0] ?? ''}.${parts[1] ?? ''}`);
  const sig = Buffer.from(parts[2] ?? '', 'base64url');
  const ok = candidates.some((k) => {
    let alg: string;
    try {
      alg = algorithmOf(k);
    } catch {
      return false;
    }
    if (alg !== header['alg']) return false;
    return verify(
      HASH[alg] ?? 'sha256',
      input,
      { key: k, ...(alg === 'RS256' ? {} : { dsaEncoding: 'ieee-p1363' as const }) },
      sig,
    );
  });
  if (!ok) throw new InvalidToken('square/go-jose: error in cryptographic primitive');
  const c = payload as unknown as TokenClaims;
  const aud = Array.isArray(c.aud) ? c.aud : typeof c.aud === 'string' ? [c.aud] : [];
  const tokenAuds = aud.length === 0 ? keys.audiences : aud;
  if (!tokenAuds.some((a) => keys.audiences.includes(a)))
    throw new InvalidToken(
      `token audiences ${JSON.stringify(tokenAuds)} is invalid for the target audiences ${JSON.stringify(keys.audiences)}`,
    );
  if (typeof c.exp === 'number' && nowSeconds - LEEWAY_SECONDS > c.exp)
    throw new InvalidToken('service account token has expired');
  if (typeof c.nbf === 'number' && nowSeconds + LEEWAY_SECONDS < c.nbf)
    throw new InvalidToken('service account token is not valid yet');
  const k8s = c['kubernetes.io'];
  if (!isRecord(k8s) || typeof k8s.namespace !== 'string' || !isRecord(k8s.serviceaccount))
    throw new InvalidToken(
      'service account token claims could not be validated due to unexpected private claim',
    );
  return { ...c, aud };
}

/** An object as the binding check sees it. */
export interface BoundObject {
  uid: string;
  /** RFC 3339, if the object is being deleted. */
  deletionTimestamp?: string;
}

/** How the binding check reads the ServiceAccount and bound objects (kube's ServiceAccountTokenGetter). */
export interface TokenGetter {
  serviceAccount(namespace: string, name: string): Promise<BoundObject | undefined>;
  pod(namespace: string, name: string): Promise<BoundObject | undefined>;
  secret(namespace: string, name: string): Promise<BoundObject | undefined>;
  node(name: string): Promise<BoundObject | undefined>;
}

/**
 * The validator of claims.go: the ServiceAccount and the bound Pod, Secret or Node exist with the
 * uids of the claims and were not deleted more than the leeway ago. Returns the user.
 * @throws InvalidToken with kube's reason.
 */
export async function validateBinding(
  claims: TokenClaims,
  getter: TokenGetter,
  nowSeconds: number,
): Promise<UserInfo> {
  const k = claims['kubernetes.io'];
  const ns = k.namespace;
  const deletedTooLongAgo = (o: BoundObject): boolean =>
    o.deletionTimestamp !== undefined && Date.parse(o.deletionTimestamp) / 1000 < nowSeconds - LEEWAY_SECONDS;
  const sa = await getter.serviceAccount(ns, k.serviceaccount.name);
  if (!sa) throw new InvalidToken(`serviceaccounts "${k.serviceaccount.name}" not found`);
  if (deletedTooLongAgo(sa))
    throw new InvalidToken(`service account ${ns}/${k.serviceaccount.name} has been deleted`);
  if (sa.uid !== k.serviceaccount.uid)
    throw new InvalidToken(`service account UID (${sa.uid}) does not match claim (${k.serviceaccount.uid})`);
  const extra: Record<string, string[]> = {};
  if (k.secret) {
    const s = await getter.secret(ns, k.secret.name);
    if (!s || deletedTooLongAgo(s)) throw new InvalidToken('service account token has been invalidated');
    if (s.uid !== k.secret.uid)
      throw new InvalidToken(
        `secret UID (${s.uid}) does not match service account secret ref claim (${k.secret.uid})`,
      );
  }
  if (k.pod) {
    const p = await getter.pod(ns, k.pod.name);
    if (!p || deletedTooLongAgo(p)) throw new InvalidToken('service account token has been invalidated');
    if (p.uid !== k.pod.uid)
      throw new InvalidToken(
        `pod UID (${p.uid}) does not match service account pod ref claim (${k.pod.uid})`,
      );
    extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
    extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
  }
  if (k.node) {
    if (!k.pod) {
      // A token bound to a Node (not a pod's node info) is checked against the Node.
      const n = await getter.node(k.node.name);
      if (!n || deletedTooLongAgo(n)) throw new InvalidToken('service account token has been invalidated');
      if (n.uid !== k.node.uid)
        throw new InvalidToken(
          `node UID (${n.uid}) does not match service account node ref claim (${k.node.uid})`,
        );
    }
    extra['authentication.kubernetes.io/node-name'] = [k.node.name];
    extra['authentication.kubernetes.io/node-uid'] = [k.node.uid];
  }
  if (claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
  return {
    name: serviceAccountUsername(ns, k.serviceaccount.name),
    uid: k.serviceaccount.uid,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`],
    extra,
  };
}
