import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  assembleToken,
  buildClaims,
  createTestIssuer,
  type TestIssuer,
} from '../auth/token-factory.js';
import type { HttpResponse } from '../support/http-client.js';
import { READ, startTestApp, type TestApp } from '../support/test-app.js';

const COLLECTION = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
const TENANT = randomUUID();

/**
 * Seconds the service waits before it refetches the key set for an unknown `kid`, as jose's
 * `createRemoteJWKSet` cooldown that RemoteKeySet keeps at its default of 30 s.
 */
const REFETCH_COOLDOWN_SECONDS = 30;
/** Seconds the service waits for the key set before it gives up, RemoteKeySet's default. */
const FETCH_TIMEOUT_SECONDS = 5;

type Responder = (request: IncomingMessage, response: ServerResponse) => void;

/** A key set endpoint on 127.0.0.1 whose response the test replaces. It counts every request. */
class KeyEndpoint {
  requests = 0;
  respond: Responder;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(keys: object) {
    this.respond = serveJson(keys);
    this.server = createServer((request, response) => {
      this.requests += 1;
      this.respond(request, response);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/keys`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));

    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    if (this.server.listening) {
      await new Promise((resolve) => this.server.close(resolve));
    }
  }
}

function serveJson(value: unknown): Responder {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
}

function serveText(status: number, contentType: string, body: string | Buffer): Responder {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': contentType });
    response.end(body);
  };
}

function expectUnavailable(response: HttpResponse): void {
  expect(response.statusCode).toBe(503);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(body.error.code).toBe('ServiceUnavailable');
  expect(body.error.innerError['request-id']).toBe(response.headers['request-id']);
  expect(response.headers['retry-after']).toMatch(/^[1-9]\d*$/);
}

function expectInvalidToken(response: HttpResponse): void {
  expect(response.statusCode).toBe(401);
  expect(response.json().error.code).toBe('InvalidAuthenticationToken');
  expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
}

describe('remote key set endpoint', () => {
  let oldKey: TestIssuer;
  let newKey: TestIssuer;
  const endpoints: KeyEndpoint[] = [];
  const services: TestApp[] = [];

  beforeAll(async () => {
    oldKey = await createTestIssuer();
    newKey = await createTestIssuer();
  });

  afterEach(async () => {
    for (const service of services.splice(0)) {
      await service.close();
    }
    for (const endpoint of endpoints.splice(0)) {
      await endpoint.stop();
    }
  });

  afterAll(async () => {
    await oldKey.cleanup();
    await newKey.cleanup();
  });

  async function startEndpoint(keys: object = oldKey.jwks): Promise<KeyEndpoint> {
    const endpoint = await new KeyEndpoint(keys).start();
    endpoints.push(endpoint);

    return endpoint;
  }

  /** Starts the service with AUTH_JWKS_URI set to `url` and no key file. */
  async function startService(url: string): Promise<TestApp> {
    const service = await startTestApp({ AUTH_JWKS_URI: url, AUTH_JWKS_FILE: '' });
    services.push(service);

    return service;
  }

  function tokenOf(issuer: TestIssuer): Promise<string> {
    return issuer.mint({ tid: TENANT, scp: READ });
  }

  function list(service: TestApp, token: string): Promise<HttpResponse> {
    return service.request({ method: 'GET', url: COLLECTION, token });
  }

  test('loopback http endpoint is accepted at start', async () => {
    const endpoint = await startEndpoint();
    const service = await startService(endpoint.url);

    const response = await list(service, await tokenOf(oldKey));

    expect(response.statusCode).toBe(200);
    expect(endpoint.requests).toBe(1);
  });

  test('keys are fetched once for many requests', async () => {
    const endpoint = await startEndpoint();
    const service = await startService(endpoint.url);
    const token = await tokenOf(oldKey);

    const statuses: number[] = [];
    for (let index = 0; index < 10; index += 1) {
      statuses.push((await list(service, token)).statusCode);
    }

    expect(statuses).toEqual(Array(10).fill(200));
    expect(endpoint.requests).toBe(1);
  });

  test('unknown kids do not make the service refetch per request', async () => {
    const endpoint = await startEndpoint();
    const service = await startService(endpoint.url);
    expect((await list(service, await tokenOf(oldKey))).statusCode).toBe(200);

    for (let index = 0; index < 20; index += 1) {
      const forged = await oldKey.mint(
        { tid: TENANT, scp: READ },
        { header: { kid: randomUUID() } },
      );
      expectInvalidToken(await list(service, forged));
    }

    expect(endpoint.requests).toBe(1);
  });

  test(
    'rotated key is accepted after one refetch',
    async () => {
      const endpoint = await startEndpoint(oldKey.jwks);
      const service = await startService(endpoint.url);
      const oldToken = await tokenOf(oldKey);
      expect((await list(service, oldToken)).statusCode).toBe(200);

      endpoint.respond = serveJson({ keys: [...newKey.jwks.keys] });
      const fetchesBeforeRotation = endpoint.requests;
      const newToken = await tokenOf(newKey);

      // Until the cooldown ends the new kid is unknown, so the token is rejected, never failed.
      let accepted: HttpResponse | undefined;
      const deadline = Date.now() + (REFETCH_COOLDOWN_SECONDS + 15) * 1000;
      while (accepted === undefined && Date.now() < deadline) {
        const response = await list(service, newToken);
        if (response.statusCode === 200) {
          accepted = response;
        } else {
          expectInvalidToken(response);
          await sleep(1000);
        }
      }

      expect(accepted?.statusCode).toBe(200);
      expect(endpoint.requests - fetchesBeforeRotation).toBe(1);
      expectInvalidToken(await list(service, oldToken));
    },
    (REFETCH_COOLDOWN_SECONDS + 30) * 1000,
  );

  test('endpoint not listening is 503', async () => {
    const endpoint = await startEndpoint();
    const url = endpoint.url;
    await endpoint.stop();
    const service = await startService(url);
    const token = await tokenOf(oldKey);

    const first = await list(service, token);
    const second = await list(service, token);

    expectUnavailable(first);
    expectUnavailable(second);
  });

  test.each([
    ['a server error', serveText(500, 'text/plain', 'down')],
    ['a missing page', serveText(404, 'text/html', '<h1>Not found</h1>')],
    ['an HTML page', serveText(200, 'text/html', '<html><body>keys</body></html>')],
    ['invalid JSON', serveText(200, 'application/json', '{"keys": [')],
    ['an empty body', serveText(200, 'application/json', '')],
    ['a JSON array', serveJson([])],
    ['keys that are not an array', serveJson({ keys: 7 })],
    ['keys that are not objects', serveJson({ keys: [1, 'two', null] })],
    ['random bytes', serveText(200, 'application/json', randomBytes(4096))],
    [
      'a closed connection',
      (request: IncomingMessage) => {
        request.socket.destroy();
      },
    ],
  ])('endpoint answering %s is 503', async (_case, responder) => {
    const endpoint = await startEndpoint();
    endpoint.respond = responder;
    const service = await startService(endpoint.url);

    const response = await list(service, await tokenOf(oldKey));

    expectUnavailable(response);
  });

  test('key set without the token kid is 401', async () => {
    const endpoint = await startEndpoint({ keys: [] });
    const service = await startService(endpoint.url);

    expectInvalidToken(await list(service, await tokenOf(oldKey)));
  });

  test('symmetric key in the key set is never used', async () => {
    const secret = randomBytes(32);
    const kid = `symmetric-${randomUUID()}`;
    const endpoint = await startEndpoint({
      keys: [...oldKey.jwks.keys, { kty: 'oct', kid, k: secret.toString('base64url') }],
    });
    const service = await startService(endpoint.url);
    const unsigned = assembleToken(
      { alg: 'HS256', typ: 'JWT', kid },
      buildClaims({ tid: TENANT, scp: READ }),
    ).slice(0, -1);
    const forged = `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;

    expectInvalidToken(await list(service, forged));
    expect((await list(service, await tokenOf(oldKey))).statusCode).toBe(200);
  });

  test('slow endpoint within the timeout is 200', async () => {
    const endpoint = await startEndpoint();
    endpoint.respond = (request, response) => {
      setTimeout(() => serveJson(oldKey.jwks)(request, response), 1000);
    };
    const service = await startService(endpoint.url);

    expect((await list(service, await tokenOf(oldKey))).statusCode).toBe(200);
  });

  test(
    'endpoint that never answers is 503',
    async () => {
      const endpoint = await startEndpoint();
      endpoint.respond = () => undefined;
      const service = await startService(endpoint.url);

      const response = await list(service, await tokenOf(oldKey));

      expectUnavailable(response);
    },
    (FETCH_TIMEOUT_SECONDS + 20) * 1000,
  );

  test('endpoint that recovers is used after Retry-After', async () => {
    const endpoint = await startEndpoint();
    endpoint.respond = serveText(500, 'text/plain', 'down');
    const service = await startService(endpoint.url);
    const token = await tokenOf(oldKey);

    const failed = await list(service, token);
    expectUnavailable(failed);
    endpoint.respond = serveJson(oldKey.jwks);
    await sleep(Number(failed.headers['retry-after']) * 1000);
    const recovered = await list(service, token);

    expect(recovered.statusCode).toBe(200);
  }, 40_000);

  test('cached keys keep working while the endpoint is down', async () => {
    const endpoint = await startEndpoint();
    const service = await startService(endpoint.url);
    const token = await tokenOf(oldKey);
    expect((await list(service, token)).statusCode).toBe(200);

    await endpoint.stop();
    const response = await list(service, token);

    expect(response.statusCode).toBe(200);
  });
});
