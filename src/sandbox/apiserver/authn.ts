// Who a request comes from, as kube-apiserver's authenticator chain decides it: a client
// certificate signed by the cluster CA is the user of its CN in the groups of its O values; a
// bearer token is tried as a ServiceAccount token; the first to succeed wins, and
// system:authenticated is added to any authenticated user. A request that presents credentials
// none of which holds (a certificate of another CA or expired, any bearer token that is not a
// valid ServiceAccount token) is refused with 401; kube-apiserver never takes a bad credential for
// anonymity. A request without credentials is system:anonymous in system:unauthenticated, which
// RBAC then allows only the public paths.
import type { ApiCore } from './api.ts';
import { resource } from './resources.ts';
import type { UserInfo } from './rbac.ts';
import {
  InvalidToken,
  NotOurToken,
  validateBinding,
  verifyToken,
  type TokenGetter,
  type TokenKeys,
} from './tokens.ts';

/** The anonymous user. */
export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** How a request authenticated. */
export interface Authenticated {
  user: UserInfo;
  via: 'x509' | 'serviceaccount' | 'anonymous';
}

/** Credentials were presented and none holds: kube-apiserver answers 401 Unauthorized. */
export class AuthenticationError extends Error {}

/** What the TLS layer says about the client's certificate. */
export interface ClientCertificate {
  /** Did it verify against the client CA (and is it within its validity)? */
  authorized: boolean;
  /** The reason it did not (OpenSSL's code, e.g. CERT_HAS_EXPIRED). */
  error?: string;
  commonName: string;
  organizations: string[];
}

/** The credentials of one request. */
export interface Credentials {
  /** The client certificate, if one was presented. */
  certificate?: ClientCertificate;
  /** The Authorization header. */
  authorization?: string;
}

export interface AuthnDeps {
  /** The ServiceAccount token keys; none: bearer tokens are never valid. */
  keys?: TokenKeys;
  getter: TokenGetter;
  /** Seconds since the epoch. */
  nowSeconds: () => number;
}

function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated')
    ? u
    : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

/** The bearer token of an Authorization header, as bearertoken.Authenticator reads it. */
function bearerToken(header: string | undefined): string | undefined {
  const auth = (header ?? '').trim();
  if (auth === '') return undefined;
  const parts = auth.split(' ');
  if (parts.length < 2 || (parts[0] ?? '').toLowerCase() !== 'bearer') return undefined;
  const token = parts[1] ?? '';
  return token === '' ? undefined : token;
}

/** Authenticates one request; throws AuthenticationError for a 401. */
export async function authenticate(cred: Credentials, deps: AuthnDeps): Promise<Authenticated> {
  const errors: string[] = [];
  const cert = cred.certificate;
  if (cert) {
    if (cert.authorized)
      return {
        user: withAuthenticated({ name: cert.commonName, groups: [...cert.organizations] }),
        via: 'x509',
      };
    errors.push(`verifying certificate CN=${cert.commonName} failed: ${cert.error ?? 'unknown authority'}`);
  }
  const token = bearerToken(cred.authorization);
  if (token !== undefined) {
    if (!deps.keys) errors.push('invalid bearer token');
    else {
      try {
        const now = deps.nowSeconds();
        const claims = verifyToken(deps.keys, token, now);
        const user = await validateBinding(claims, deps.getter, now);
        return { user: withAuthenticated(user), via: 'serviceaccount' };
      } catch (e) {
        if (e instanceof NotOurToken) errors.push('invalid bearer token');
        else if (e instanceof InvalidToken) errors.push(`[invalid bearer token, ${e.message}]`);
        else throw e;
      }
    }
  }
  if (errors.length > 0) throw new AuthenticationError(errors.join('; '));
  return { user: ANONYMOUS, via: 'anonymous' };
}

/** The token validator's reads, through the API server's own storage. */
export function apiTokenGetter(api: ApiCore): TokenGetter {
  const read = async (r: string, ns: string | undefined, name: string) => {
    const o = await api.tryGet(resource(r), ns, name);
    if (!o) return undefined;
    return {
      uid: o.metadata.uid ?? '',
      ...(o.metadata.deletionTimestamp ? { deletionTimestamp: o.metadata.deletionTimestamp } : {}),
    };
  };
  return {
    serviceAccount: (ns, name) => read('serviceaccounts', ns, name),
    pod: (ns, name) => read('pods', ns, name),
    secret: (ns, name) => read('secrets', ns, name),
    node: (name) => read('nodes', undefined, name),
  };
}
