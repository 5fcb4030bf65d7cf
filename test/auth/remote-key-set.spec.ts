import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';

import type { RemoteKeySource } from '../../src/auth/key-source.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { GraphErrorCode } from '../../src/odata/http/graph-error.js';
import { catchGraphException, expectInvalidToken } from './expect-graph-exception.js';
import { createTestIssuer, READ_ALL, T1, TEST_AUDIENCE, type TestIssuer } from './token-factory.js';

/** Response behaviour of the loopback key endpoint. */
type EndpointMode = 'serve' | 'error' | 'not-json' | 'not-a-jwks' | 'hang';

/** A JWKS endpoint on 127.0.0.1 whose responses the test switches. It counts every request. */
class KeyEndpoint {
  mode: EndpointMode = 'serve';
  requests = 0;
  private server?: Server;
  private port = 0;

  constructor(private readonly issuer: TestIssuer) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/discovery/v2.0/keys`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      this.requests += 1;
      switch (this.mode) {
        case 'serve':
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(this.issuer.jwks));
          break;
        case 'error':
          response.writeHead(500).end('down');
          break;
        case 'not-json':
          response.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
          break;
        case 'not-a-jwks':
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":7}');
          break;
        case 'hang':
          break;
      }
    });
    // Listen again on the same port after stop(), so a client sees the endpoint come back.
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) {
      return;
    }
    this.server = undefined;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

let issuer: TestIssuer;
let endpoint: KeyEndpoint;

function remoteVerifier(options: Partial<RemoteKeySource> = {}): TokenVerifier {
  return new TokenVerifier({
    audience: TEST_AUDIENCE,
    allowedTenants: '*',
    clockToleranceSeconds: 60,
    keys: { kind: 'remote', url: endpoint.url, timeoutMs: 1_000, ...options },
  });
}

async function bearerToken(): Promise<string> {
  return `Bearer ${await issuer.mint({ scp: READ_ALL })}`;
}

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const exception = await catchGraphException(promise);
  expect(exception.status).toBe(503);
  expect(exception.code).toBe(GraphErrorCode.ServiceUnavailable);
  expect(exception.headers['Retry-After']).toMatch(/^[1-9]\d*$/);
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  issuer = await createTestIssuer();
});

beforeEach(async () => {
  endpoint = new KeyEndpoint(issuer);
  await endpoint.start();
});

afterEach(async () => {
  await endpoint.stop();
});

afterAll(async () => {
  await issuer.cleanup();
});

describe('TokenVerifier with a remote key set', () => {
  it('verifies a token with fetched keys', async () => {
    const verifier = remoteVerifier();

    await expect(verifier.verify(await bearerToken())).resolves.toMatchObject({ tenantId: T1 });
    expect(endpoint.requests).toBe(1);
  });

  it('reuses cached keys for later tokens', async () => {
    const verifier = remoteVerifier();

    await verifier.verify(await bearerToken());
    await verifier.verify(await bearerToken());
    await verifier.verify(await bearerToken());

    expect(endpoint.requests).toBe(1);
  });

  it('rejects an unknown kid with 401, not 503', async () => {
    const verifier = remoteVerifier();
    const token = await issuer.mint({ scp: READ_ALL }, { header: { kid: 'rotated-away' } });

    await expectInvalidToken(verifier.verify(`Bearer ${token}`), /kid/, token);
  });

  it('uses cached keys while the endpoint is down', async () => {
    const verifier = remoteVerifier();
    await verifier.verify(await bearerToken());

    await endpoint.stop();

    await expect(verifier.verify(await bearerToken())).resolves.toMatchObject({ tenantId: T1 });
  });
});

describe('TokenVerifier with an unreachable key endpoint', () => {
  it('returns 503 when nothing listens', async () => {
    const verifier = remoteVerifier();
    await endpoint.stop();

    await expectUnavailable(verifier.verify(await bearerToken()));
  });

  it.each(['error', 'not-json', 'not-a-jwks'] as const)(
    'returns 503 when the endpoint answers %s',
    async (mode) => {
      endpoint.mode = mode;
      const verifier = remoteVerifier();

      await expectUnavailable(verifier.verify(await bearerToken()));
    },
  );

  it('returns 503 when the endpoint times out', async () => {
    endpoint.mode = 'hang';
    const verifier = remoteVerifier({ timeoutMs: 200 });

    await expectUnavailable(verifier.verify(await bearerToken()));
  });

  it('still checks the header before fetching keys', async () => {
    const verifier = remoteVerifier();
    await endpoint.stop();

    await expectInvalidToken(verifier.verify(undefined), /missing/);
    await expectInvalidToken(verifier.verify('Bearer not-a-jwt'), /malformed/);
  });

  it('skips fetching until Retry-After passes', async () => {
    endpoint.mode = 'error';
    const verifier = remoteVerifier({ retryAfterSeconds: 30 });

    await expectUnavailable(verifier.verify(await bearerToken()));
    await expectUnavailable(verifier.verify(await bearerToken()));
    const exception = await catchGraphException(verifier.verify(await bearerToken()));

    expect(endpoint.requests).toBe(1);
    expect(Number(exception.headers['Retry-After'])).toBeLessThanOrEqual(30);
  });

  it('recovers when the endpoint comes back', async () => {
    endpoint.mode = 'error';
    const verifier = remoteVerifier({ retryAfterSeconds: 0 });
    await expectUnavailable(verifier.verify(await bearerToken()));

    endpoint.mode = 'serve';

    await expect(verifier.verify(await bearerToken())).resolves.toMatchObject({ tenantId: T1 });
  });

  it('recovers when the endpoint listens again', async () => {
    const verifier = remoteVerifier({ retryAfterSeconds: 0 });
    await endpoint.stop();
    await expectUnavailable(verifier.verify(await bearerToken()));

    await endpoint.start();

    await expect(verifier.verify(await bearerToken())).resolves.toMatchObject({ tenantId: T1 });
  });

  it('uses stale keys when a refetch fails', async () => {
    const verifier = remoteVerifier({ cacheMaxAgeMs: 0 });
    await verifier.verify(await bearerToken());
    endpoint.mode = 'error';

    await expect(verifier.verify(await bearerToken())).resolves.toMatchObject({ tenantId: T1 });
    expect(endpoint.requests).toBe(2);
  });

  it('returns 503 when the stale keys are too old', async () => {
    const verifier = remoteVerifier({ cacheMaxAgeMs: 0, staleMaxAgeMs: 0 });
    await verifier.verify(await bearerToken());
    await new Promise((resolve) => setTimeout(resolve, 5));
    endpoint.mode = 'error';

    await expectUnavailable(verifier.verify(await bearerToken()));
  });

  it('logs one warning per outage', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      endpoint.mode = 'error';
      const verifier = remoteVerifier({ retryAfterSeconds: 0 });

      await expectUnavailable(verifier.verify(await bearerToken()));
      await expectUnavailable(verifier.verify(await bearerToken()));
      await expectUnavailable(verifier.verify(await bearerToken()));

      expect(endpoint.requests).toBe(3);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain(endpoint.url);
    } finally {
      warn.mockRestore();
    }
  });
});
