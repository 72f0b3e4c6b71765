// Compiles the `certificates.<id>` entries into what the HTTPS listener and the upstream pools use: each
// certificate's chain and its key opened with the node's keyring (TP_SECRET_KEY), checked to parse and to
// match. A certificate that fails (no keyring, a key sealed under a key this node lacks, a bad chain) is
// rejected and reported in /readyz; it never stops the rest from compiling. Opened keys live only in memory.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { isSealed, open, type Keyring } from '@turnpike/common';

interface Parsed {
  key: string;
  id: string;
  data: unknown;
}

export interface CompiledCertificate {
  id: string;
  /** PEM chain, leaf first. */
  certPem: string;
  /** The clear PEM private key (memory only; written to disk only encrypted, see https-listener.ts). */
  keyPem: string;
  /** Lower-case names served (exact or `*.domain`); a name already served by an older certificate is left out. */
  serverNames: readonly string[];
  fingerprint: string;
  createdAt: string;
  notAfter: string;
  /** mTLS listener: the CAs whose client certificates are accepted for this certificate's names; null: none are. */
  clientCaPem: string | null;
  /** mTLS listener: revocation lists of those CAs; null: none. */
  clientCrlPem: string | null;
}

export interface CertificateRejection {
  key: string;
  reason: string;
}

export interface TlsConfig {
  /** Oldest first (created_at, then id): the first is the default certificate (no SNI, unknown name). */
  certificates: readonly CompiledCertificate[];
  byId: ReadonlyMap<string, CompiledCertificate>;
  rejected: readonly CertificateRejection[];
}

export const EMPTY_TLS: TlsConfig = Object.freeze({ certificates: [], byId: new Map(), rejected: [] });

type One = { ok: true; cert: Omit<CompiledCertificate, 'serverNames'> & { names: readonly string[] } } | { ok: false; reason: string };

/**
 * Keeps each entry's result while its parsed value (replaced by the compile cache on every change) is the
 * same object, so a recompile opens and checks only the certificates that changed.
 */
export class CertificateCompiler {
  #done = new WeakMap<object, One>();

  compile(entries: Iterable<Parsed>, keyring: Keyring | null): TlsConfig {
    const ok: Array<One & { ok: true }> = [];
    const rejected: CertificateRejection[] = [];
    let any = false;
    for (const p of entries) {
      any = true;
      let r = this.#done.get(p);
      if (!r) {
        r = compileOne(p, keyring);
        this.#done.set(p, r);
      }
      if (r.ok) ok.push(r);
      else rejected.push({ key: p.key, reason: r.reason });
    }
    if (!any) return EMPTY_TLS;
    ok.sort((a, b) => (a.cert.createdAt < b.cert.createdAt ? -1 : a.cert.createdAt > b.cert.createdAt ? 1 : a.cert.id < b.cert.id ? -1 : 1));
    // The control plane keeps server names unique; should two certificates still claim one (entries from an
    // older control plane), the older keeps it, deterministically on every node.
    const owner = new Map<string, string>();
    const certificates: CompiledCertificate[] = [];
    const byId = new Map<string, CompiledCertificate>();
    for (const { cert } of ok) {
      const serverNames: string[] = [];
      for (const n of cert.names) {
        const prev = owner.get(n);
        if (prev === undefined) {
          owner.set(n, cert.id);
          serverNames.push(n);
        } else rejected.push({ key: `certificates.${cert.id}`, reason: `server name ${n} is already served by certificate ${prev}` });
      }
      const { names: _names, ...rest } = cert;
      const c: CompiledCertificate = { ...rest, serverNames };
      certificates.push(c);
      byId.set(c.id, c);
    }
    return { certificates, byId, rejected };
  }
}

function compileOne(p: Parsed, keyring: Keyring | null): One {
  const d = p.data as Record<string, unknown>;
  const certPem = d.cert_pem;
  const names = d.server_names;
  const sealed = (d.secret as { key_pem?: unknown } | undefined)?.key_pem;
  if (typeof certPem !== 'string') return { ok: false, reason: 'certificate without cert_pem' };
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && /^(\*\.)?[a-z0-9.-]+$/.test(n))) {
    return { ok: false, reason: 'server_names must be a list of lower-case host names' };
  }
  if (!isSealed(sealed)) return { ok: false, reason: 'certificate without a sealed key' };
  if (!keyring) return { ok: false, reason: 'this node has no secret key to open certificate keys (set TP_SECRET_KEY or TP_SECRET_KEYS)' };
  let keyPem: string;
  try {
    keyPem = open(keyring, sealed, p.id);
  } catch (e) {
    return { ok: false, reason: `the certificate's key cannot be opened: ${e instanceof Error ? e.message : String(e)}` };
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return { ok: false, reason: 'the key does not match the certificate' };
  } catch {
    // Never echo the key or the error's text (OpenSSL messages may quote input).
    return { ok: false, reason: 'the certificate or its key does not parse' };
  }
  const clientCaPem = typeof d.client_ca_pem === 'string' && d.client_ca_pem !== '' ? d.client_ca_pem : null;
  const clientCrlPem = clientCaPem !== null && typeof d.client_crl_pem === 'string' && d.client_crl_pem !== '' ? d.client_crl_pem : null;
  if (clientCaPem !== null) {
    try {
      createSecureContext({ ca: clientCaPem, ...(clientCrlPem !== null ? { crl: clientCrlPem } : {}) });
    } catch {
      return { ok: false, reason: 'client_ca_pem or client_crl_pem is not accepted by OpenSSL' };
    }
  }
  return {
    ok: true,
    cert: {
      clientCaPem,
      clientCrlPem,
      id: p.id,
      certPem,
      keyPem,
      names,
      fingerprint: leaf.fingerprint256,
      createdAt: typeof d.created_at === 'string' ? d.created_at : '',
      notAfter: new Date(leaf.validTo).toISOString(),
    },
  };
}
