// Why an API server did not accept the kubeconfig's client certificate. kube-apiserver does not say:
// an expired, self-signed or foreign certificate gets 401 Unauthorized, or (where the request then
// counts as anonymous, as the sandbox does) 403 for "system:anonymous". When the kubeconfig's user
// authenticates with a client certificate and the answer is one of those, this looks at the
// certificate the way the server did (validity at the clock's time, issuer, signature) and says
// which it is, naming the kubeconfig file.
//
// It decides from the certificate and CA bytes it is given; it never makes a request.
import { X509Certificate } from 'node:crypto';

/** A client certificate and what it is checked against. */
export interface ClientCertificateFacts {
  /** The client certificate (PEM or DER), as the kubeconfig gives it. */
  cert: Buffer;
  /** The kubeconfig's certificate-authority for the cluster, if any (kubeadm signs both with it). */
  ca?: Buffer | undefined;
}

/**
 * The reason a server would refuse the certificate, in a few words ("it expired on ..."), or
 * undefined when it looks valid (then the server trusts another client CA than the kubeconfig's).
 */
export function clientCertificateProblem(facts: ClientCertificateFacts, now: Date): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(facts.cert);
  } catch {
    return 'it is not a readable X.509 certificate';
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (now.getTime() > notAfter.getTime()) return `it expired on ${notAfter.toISOString()}`;
  if (now.getTime() < notBefore.getTime()) return `it is not valid before ${notBefore.toISOString()}`;
  if (cert.subject === cert.issuer && safeVerify(cert, cert)) return 'it is self-signed';
  const cas = facts.ca ? caCertificates(facts.ca) : [];
  if (cas.length > 0 && !cas.some((ca) => cert.checkIssued(ca) && safeVerify(cert, ca)))
    return `it was not signed by the cluster's CA (issuer "${cert.issuer.replace(/\n/g, ', ')}")`;
  return undefined;
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Every certificate of a PEM bundle (a CA file may hold several). */
function caCertificates(bundle: Buffer): X509Certificate[] {
  const text = bundle.toString('utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  const out: X509Certificate[] = [];
  for (const b of blocks ?? [bundle]) {
    try {
      out.push(new X509Certificate(b));
    } catch {
      // not a certificate: skipped
    }
  }
  return out;
}

/** Does this answer mean "your credentials were not accepted" (401, or 403 for the anonymous user)? */
export function isRejectedCredential(status: number, message: string): boolean {
  return status === 401 || (status === 403 && message.includes('system:anonymous'));
}
