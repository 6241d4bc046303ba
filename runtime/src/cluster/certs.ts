// kubectl sends its bearer token only over TLS (client-go leaves it out of plain-http
// requests), so the API server serves https with a certificate made at `cluster up`. The
// kubeconfig carries the certificate itself as its CA: kubectl trusts this one server and
// nothing else. Made by the openssl command, as kubeadm's `certs` phase makes its own.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import { clusterFile } from './paths.ts';

/** `ips`: the other addresses it serves at (the cluster network's gateway, for the nodes). */
export function makeServingCert(ips: string[] = []): { cert: string; key: string } {
  const cert = clusterFile('apiserver.crt');
  const key = clusterFile('apiserver.key');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '365',
      '-subj', '/CN=box-apiserver', '-addext', `subjectAltName=IP:127.0.0.1,${ips.map((ip) => `IP:${ip},`).join('')}DNS:localhost`, '-keyout', key, '-out', cert];
  try {
    try {
      execFileSync('openssl', args, { stdio: 'pipe' });
    } catch (err) {
      // A lab sandbox has the host's /usr but not its /etc: /usr/lib/ssl/openssl.cnf points to a
      // missing /etc/ssl/openssl.cnf. The command line says everything, so no config is needed.
      if (!/openssl\.cnf/.test(String((err as { stderr?: Buffer }).stderr ?? ''))) throw err;
      execFileSync('openssl', args, { stdio: 'pipe', env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError('box cluster needs the openssl command for the API server\'s certificate (apt-get install openssl)');
    throw new UserError(`openssl could not make the API server's certificate: ${String((err as { stderr?: Buffer }).stderr ?? err).trim().split('\n')[0]}`);
  }
  fs.chmodSync(key, 0o600);
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
}
