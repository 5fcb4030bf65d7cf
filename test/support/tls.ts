/**
 * Throwaway TLS material for tests: a self-signed certificate for 127.0.0.1 and localhost made
 * with the openssl command-line tool. `sendRequest` in http-client.ts sends HTTPS requests that
 * trust only that certificate.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { startTestApp, type TestApp } from './test-app.js';

const run = promisify(execFile);

export interface TestCertificate {
  /** PEM files for TLS_CERT_FILE and TLS_KEY_FILE. */
  certFile: string;
  keyFile: string;
  /** The certificate in PEM form, to trust as a certificate authority. */
  certificate: string;
  /** Deletes the temporary folder holding both files. */
  cleanup(): Promise<void>;
}

/**
 * Creates a one-day, self-signed P-256 certificate whose subject alternative names are
 * 127.0.0.1 and localhost, in a new temporary folder.
 *
 * @throws Error naming the missing tool when `openssl` is not installed.
 */
export async function createTestCertificate(): Promise<TestCertificate> {
  const directory = await mkdtemp(join(tmpdir(), 'eas-test-tls-'));
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  const cleanup = (): Promise<void> => rm(directory, { recursive: true, force: true });

  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]);
  } catch (error) {
    await cleanup();
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    throw new Error(
      missing
        ? 'The openssl command is not installed, so no test certificate can be created.'
        : `openssl failed to create a test certificate: ${String(error)}`,
    );
  }

  return { certFile, keyFile, certificate: await readFile(certFile, 'utf8'), cleanup };
}

/** A service that listens with HTTPS on a test certificate. */
export interface HttpsTestApp {
  service: TestApp;
  certificate: TestCertificate;
  /** The https:// origin of the listener at 127.0.0.1. */
  origin: string;
}

/** Creates a test certificate and starts the service with HTTPS on it. */
export async function startHttpsTestApp(): Promise<HttpsTestApp> {
  const certificate = await createTestCertificate();
  let service: TestApp;
  try {
    service = await startTestApp({
      TLS_CERT_FILE: certificate.certFile,
      TLS_KEY_FILE: certificate.keyFile,
    });
  } catch (error) {
    await certificate.cleanup();
    throw error;
  }

  // startTestApp reports an http:// origin whatever the listener speaks, so only its port is used.
  return { service, certificate, origin: `https://127.0.0.1:${new URL(service.origin).port}` };
}
