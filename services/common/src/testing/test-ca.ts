// Test certificates made with the openssl CLI (node:crypto cannot issue X.509), for the TLS suites of every
// package: a CA and leaf certificates it signs, EC P-256, valid for two days; each `issue` is a new key.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  certPem: string;
  keyPem: string;
  fingerprint: string;
}

export class TestCa {
  readonly dir = mkdtempSync(join(tmpdir(), 'tp-tls-'));
  readonly certPem: string;
  #n = 0;

  constructor(readonly name = 'Turnpike Test CA') {
    this.#openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${name}`]);
    this.certPem = readFileSync(join(this.dir, 'ca.crt'), 'utf8');
  }

  /** A leaf for `cn` with these DNS names in its subjectAltName (none: CN only). */
  issue(cn: string, dnsNames: readonly string[] = [cn]): Issued {
    const n = ++this.#n;
    this.#openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${cn}`]);
    const ext = join(this.dir, `${n}.ext`);
    writeFileSync(ext, dnsNames.length > 0 ? `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}\n` : 'basicConstraints=CA:FALSE\n');
    this.#openssl(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${n}.crt`, '-extfile', ext]);
    const certPem = readFileSync(join(this.dir, `${n}.crt`), 'utf8');
    const keyPem = readFileSync(join(this.dir, `${n}.key`), 'utf8');
    return { certPem, keyPem, fingerprint: new X509Certificate(certPem).fingerprint256 };
  }

  /** A leaf for `cn` that expired in 2020 (signed with `openssl ca`, which takes explicit dates). */
  issueExpired(cn: string): Issued {
    const n = ++this.#n;
    this.#openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${cn}`]);
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'ca.serial'), `${(1000 + n).toString(16).padStart(4, '0')}\n`);
    writeFileSync(
      join(this.dir, 'ca.cnf'),
      '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=ca.serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n',
    );
    this.#openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${n}.csr`, '-out', `${n}.crt`, '-notext', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
    const certPem = readFileSync(join(this.dir, `${n}.crt`), 'utf8');
    return { certPem, keyPem: readFileSync(join(this.dir, `${n}.key`), 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256 };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  }
}
