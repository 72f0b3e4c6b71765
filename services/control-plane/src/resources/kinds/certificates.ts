// TLS certificates for the gateway's HTTPS listener (per host name, SNI) and for mutual TLS to upstreams.
// Every write is checked with node:crypto: the chain parses, the key matches the leaf, the leaf is not
// expired. The key is sealed with the keyring (context = the certificate id), kept only in `material`,
// never returned and never part of an error message; the data plane gets it sealed.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import {
  Certificate,
  CertificateCreate,
  CertificateUpdate,
  TurnpikeError,
  isSealed,
  open,
  seal,
  type FieldError,
  type SealedSecret,
} from '@turnpike/common';
import type { TransactionSql } from 'postgres';
import type { ResourceDef, ResourceDoc } from '../definition.js';
import { requireKeyring, unprocessable } from './errors.js';



const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The chain's certificates, leaf first; null when a block does not parse or there is none. */
export function parseChain(pem: string): X509Certificate[] | null {
  const blocks = pem.match(PEM_CERT);
  if (!blocks) return null;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return null;
  }
}

/** The DNS names a certificate covers: its subjectAltName DNS entries, else its CN; lower case. */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    const dns = san
      .split(/,\s*/)
      .filter((e) => e.startsWith('DNS:'))
      .map((e) => e.slice(4).toLowerCase());
    if (dns.length > 0) return [...new Set(dns)];
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn && /^(\*\.)?[a-z0-9.-]+$/i.test(cn) ? [cn.toLowerCase()] : [];
}

function privateKeyOf(pem: string): KeyObject | null {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // An encrypted key without its passphrase lands here too; the message never echoes the input.
    return null;
  }
}

/**
 * mTLS trust of a certificate (the gateway's mTLS listener): every block of client_ca_pem a CA certificate,
 * the CRLs only with CAs, and OpenSSL accepting both (what a node will load).
 */
export function clientTrustProblems(caPem: string | null, crlPem: string | null): FieldError[] {
  if (caPem === null) return crlPem === null ? [] : [{ path: '/client_crl_pem', message: 'needs client_ca_pem (the CAs whose certificates it revokes)' }];
  const cas = parseChain(caPem);
  if (!cas) return [{ path: '/client_ca_pem', message: 'is not a PEM bundle of certificates that parses' }];
  const notCa = cas.findIndex((c) => !c.ca);
  if (notCa >= 0) return [{ path: '/client_ca_pem', message: `certificate ${notCa + 1} is not a CA certificate (basicConstraints CA:TRUE)` }];
  const expired = cas.find((c) => Date.parse(c.validTo) <= Date.now());
  if (expired) return [{ path: '/client_ca_pem', message: `a CA certificate expired at ${new Date(expired.validTo).toISOString()}` }];
  try {
    createSecureContext({ ca: caPem, ...(crlPem !== null ? { crl: crlPem } : {}) });
  } catch {
    // OpenSSL's message may quote the input: not echoed.
    return [{ path: crlPem !== null ? '/client_crl_pem' : '/client_ca_pem', message: 'is not accepted by OpenSSL' }];
  }
  return [];
}

/** Refuses the delete (409) while an upstream presents this certificate to its targets. */
async function assertNoUpstreamUses(tx: TransactionSql, id: string): Promise<void> {
  const rows = await tx<{ id: string; name: string }[]>`
    SELECT id, name FROM upstreams WHERE policies -> 'tls' ->> 'client_certificate_id' = ${id} ORDER BY seq LIMIT 5`;
  if (rows.length > 0) {
    throw new TurnpikeError('TP_ERR_IN_USE', `certificate ${JSON.stringify(id)} is the client certificate of upstreams ${rows.map((r) => `${r.name} (${r.id})`).join(', ')}`);
  }
}

export const certificates: ResourceDef = {
  kind: 'certificates',
  path: 'certificates',
  singular: 'certificate',
  title: 'Certificate',
  create: CertificateCreate,
  update: CertificateUpdate,
  entity: Certificate,
  nameOf: (d) => String(d.name),
  // Server names are unique across tenants, not only in one: every node serves one HTTPS listener for the
  // whole cluster, so two tenants claiming `api.example.com` could not both be served.
  unique: (d) => [
    { field: '/name', value: String(d.name), scope: 'tenant' },
    ...((d.server_names as string[] | undefined) ?? []).map((n) => ({ field: '/snis', value: n, scope: 'global' as const, namespace: 'sni' })),
  ],
  beforeDelete: (w, id) => assertNoUpstreamUses(w.tx, id),
  secrets: {
    prepare({ doc, prior, id, keyring }) {
      const { key_pem: keyInput, ...rest } = doc;
      const problems: FieldError[] = [];
      const chain = parseChain(String(rest.cert_pem));
      const leaf = chain?.[0] ?? null;
      if (!leaf) problems.push({ path: '/cert_pem', message: 'is not a PEM certificate chain that parses' });

      let sealed: SealedSecret | null = isSealed(prior?.key_pem) ? prior.key_pem : null;
      let key: KeyObject | null = null;
      if (typeof keyInput === 'string') {
        key = privateKeyOf(keyInput);
        if (!key) problems.push({ path: '/key_pem', message: 'is not an unencrypted PEM private key' });
      } else if (sealed) {
        const ring = requireKeyring(keyring, 'certificates');
        const clear = open(ring, sealed, id);
        key = privateKeyOf(clear);
        // Sealed under a key that is no longer the active one (TP_SECRET_KEYS rotation): re-seal on this write.
        if (sealed.kid !== ring.activeKid) sealed = seal(ring, clear, id);
      } else {
        problems.push({ path: '/key_pem', message: 'is required' });
      }
      if (leaf && key && !leaf.checkPrivateKey(key)) {
        problems.push({ path: typeof keyInput === 'string' ? '/key_pem' : '/cert_pem', message: 'does not match the certificate’s public key' });
      }
      if (leaf && Date.parse(leaf.validTo) <= Date.now()) problems.push({ path: '/cert_pem', message: `expired at ${new Date(leaf.validTo).toISOString()}` });

      const given = rest.snis as string[] | null | undefined;
      const serverNames = given ? [...new Set(given.map((n) => n.toLowerCase()))] : leaf ? certificateNames(leaf) : [];
      if (!given && leaf && serverNames.length === 0) {
        problems.push({ path: '/snis', message: 'is required: the certificate names no DNS host (subjectAltName or CN)' });
      }
      const clientCa = typeof rest.client_ca_pem === 'string' ? rest.client_ca_pem : null;
      const clientCrl = typeof rest.client_crl_pem === 'string' ? rest.client_crl_pem : null;
      problems.push(...clientTrustProblems(clientCa, clientCrl));
      if (problems.length > 0) throw unprocessable(problems);

      if (typeof keyInput === 'string') sealed = seal(requireKeyring(keyring, 'certificates'), keyInput, id);
      const publicDoc: ResourceDoc = {
        ...rest,
        snis: given ?? null,
        client_ca_pem: clientCa,
        client_crl_pem: clientCrl,
        server_names: serverNames,
        subject: leaf!.subject.split('\n').join(', '),
        not_after: new Date(leaf!.validTo).toISOString(),
        fingerprint_sha256: leaf!.fingerprint256,
      };
      return { doc: publicDoc, material: { key_pem: sealed } };
    },
  },
  dataPlane(entity, material) {
    return { ...entity, secret: { key_pem: isSealed(material?.key_pem) ? material.key_pem : null } };
  },
};
