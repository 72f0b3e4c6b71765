// What the gateway knows of a client certificate the mTLS listener verified: read once per connection from
// node:tls's peer certificate, immutable, shared by every request of the connection.
import type { X509Certificate } from 'node:crypto';

export interface ClientCertificate {
  /** SHA-256 of the DER, colon-separated upper-case hex (node's fingerprint256, `openssl x509 -fingerprint -sha256`). */
  readonly fingerprint256: string;
  /** The subject as `CN=client, O=Example` (RFC 2253-ish order as node prints it, joined with ", "). */
  readonly subject: string;
  /** The subject's CN ('' when it has none). */
  readonly subjectCn: string;
  /** subjectAltName entries as node prints them: `DNS:a.example`, `email:a@example`, `URI:spiffe://…`, `IP Address:10.0.0.1`. */
  readonly san: readonly string[];
  readonly issuer: string;
  /** Upper-case hex. */
  readonly serialNumber: string;
  /** notAfter, epoch ms: a connection outliving its certificate is refused by mtls-auth from then on. */
  readonly notAfterMs: number;
}

/** Values of one relative distinguished name from node's `subject` text (`CN=a\nO=b`). */
function rdn(text: string, key: string): string {
  for (const line of text.split('\n')) if (line.startsWith(key + '=')) return line.slice(key.length + 1);
  return '';
}

/**
 * Splits node's subjectAltName text. Node quotes an entry whose value holds a comma or quote as JSON
 * (`DNS:"a,b"`), so a naive split on ", " would let a crafted SAN forge a second entry.
 */
export function splitSubjectAltName(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const kind = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // A JSON string: find its closing quote (skipping escapes) and decode it.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        return out;
      }
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = text.slice(j, end < 0 ? text.length : end);
      j = end < 0 ? text.length : end;
    }
    out.push(`${kind}:${value}`);
    i = text.startsWith(', ', j) ? j + 2 : text.length;
  }
  return out;
}

export function clientCertificateOf(x: X509Certificate): ClientCertificate {
  return Object.freeze({
    fingerprint256: x.fingerprint256,
    subject: x.subject.split('\n').join(', '),
    subjectCn: rdn(x.subject, 'CN'),
    san: Object.freeze(splitSubjectAltName(x.subjectAltName)),
    issuer: x.issuer.split('\n').join(', '),
    serialNumber: x.serialNumber.toUpperCase(),
    notAfterMs: Date.parse(x.validTo),
  });
}
