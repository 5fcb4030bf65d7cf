/**
 * Throwaway TLS material for tests: a self-signed certificate for 127.0.0.1 and localhost made
 * with the openssl command-line tool, and an HTTPS client that trusts only that certificate.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { checkServerIdentity } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { HttpRequestOptions, HttpResponse } from './http-client.js';

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

/**
 * Sends one request over HTTPS, trusting only the given certificate, and buffers the response.
 * Payloads are sent as `sendRequest` in http-client.ts sends them: an object as JSON.
 */
export function sendHttpsRequest(
  origin: string,
  certificate: string,
  options: HttpRequestOptions,
): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: Buffer | undefined;
  if (typeof options.payload === 'string') {
    body = Buffer.from(options.payload, 'utf8');
  } else if (Buffer.isBuffer(options.payload)) {
    body = options.payload;
  } else if (options.payload !== undefined) {
    body = Buffer.from(JSON.stringify(options.payload), 'utf8');
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  if (body !== undefined) {
    headers['content-length'] = String(body.length);
  }

  const target = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method,
        path: options.url,
        headers,
        ca: certificate,
        // Checks the name against the address dialled, not a Host header the test may override.
        checkServerIdentity: (_host, peer) => checkServerIdentity(target.hostname, peer),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const rawPayload = Buffer.concat(chunks);
          const text = rawPayload.toString('utf8');
          resolve({
            statusCode: response.statusCode ?? 0,
            headers: response.headers,
            body: text,
            rawPayload,
            json: (): unknown => JSON.parse(text) as unknown,
          });
        });
      },
    );
    request.setTimeout(20_000, () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(body);
  });
}
