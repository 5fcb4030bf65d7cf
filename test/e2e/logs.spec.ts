import 'reflect-metadata';

import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import { createApp } from '../../src/app.factory.js';
import { buildAppConfig } from '../../src/config/app-config.js';
import { createTestIssuer, nowInSeconds, type TestIssuer } from '../auth/token-factory.js';
import { type HttpRequestOptions, type HttpResponse, sendRequest } from '../support/http-client.js';
import { COLLECTION, queryDatabase, READ_WRITE, TEST_DATABASE_URL } from '../support/test-app.js';

/** Secrets of the service's configuration, none of which may reach a log line. */
const SKIPTOKEN_SECRET = randomBytes(24).toString('base64url');
const DATABASE_PASSWORD = `pw-${randomBytes(12).toString('hex')}`;

/** Requests per application and tenant before the service returns 429. */
const REQUEST_LIMIT = 3;

type LogLine = Record<string, unknown>;

/** A destination for pino that keeps every line in memory. */
class CapturedLines extends Writable {
  readonly lines: string[] = [];
  private partial = '';

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((line) => line !== ''));
    callback();
  }
}

/** Returns the test database URL with a password, which trust authentication ignores. */
function urlWithPassword(): string {
  const url = new URL(TEST_DATABASE_URL);
  url.password = DATABASE_PASSWORD;

  return url.toString();
}

describe('structured logs', () => {
  const captured = new CapturedLines();
  const secrets: string[] = [SKIPTOKEN_SECRET, DATABASE_PASSWORD];
  const tenants: string[] = [];
  let issuer: TestIssuer;
  let app: NestFastifyApplication;
  let origin: string;

  beforeAll(async () => {
    issuer = await createTestIssuer();
    const config = buildAppConfig({
      NODE_ENV: 'test',
      DATABASE_URL: urlWithPassword(),
      AUTH_JWKS_FILE: issuer.jwksPath,
      AUTH_AUDIENCE: 'api://eas-service',
      LOG_LEVEL: 'trace',
      SKIPTOKEN_SECRET,
      THROTTLE_REQUESTS: String(REQUEST_LIMIT),
      THROTTLE_WINDOW_SECONDS: '600',
    });
    app = await createApp(config, { logDestination: captured });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    origin = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await app?.close();
    await issuer?.cleanup();
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [tenants]);
  });

  /** Mints a token for a new tenant and remembers it as a secret. */
  async function newToken(claims: Record<string, unknown> = {}): Promise<string> {
    const tenantId = randomUUID();
    tenants.push(tenantId);
    const token = await issuer.mint({ scp: READ_WRITE, tid: tenantId, ...claims });
    secrets.push(token);

    return token;
  }

  /** Sends one request and returns its response and the log lines written while it ran. */
  async function send(
    options: HttpRequestOptions,
  ): Promise<{ response: HttpResponse; lines: LogLine[] }> {
    const before = captured.lines.length;
    const response = await sendRequest(origin, options);
    // The completion line is written after the response is sent, so it may still be on its way.
    for (let attempt = 0; attempt < 100; attempt++) {
      if (captured.lines.slice(before).some((line) => line.includes('"request completed"'))) {
        break;
      }
      await sleep(10);
    }

    return {
      response,
      lines: captured.lines.slice(before).map((line) => JSON.parse(line) as LogLine),
    };
  }

  async function expectOneRequestId(options: HttpRequestOptions, status: number) {
    const { response, lines } = await send(options);
    const requestId = response.headers['request-id'];

    expect(response.statusCode).toBe(status);
    expect(lines.filter((line) => line.msg === 'request completed')).toHaveLength(1);
    for (const line of lines) {
      expect({ msg: line.msg, reqId: line.reqId }).toEqual({ msg: line.msg, reqId: requestId });
    }

    return lines;
  }

  test('completion line names request, tenant and application', async () => {
    const token = await newToken();
    const { response, lines } = await send({
      method: 'GET',
      url: `${COLLECTION}?$top=1`,
      headers: { authorization: `Bearer ${token}` },
    });
    const completed = lines.find((line) => line.msg === 'request completed');

    expect(completed).toEqual(
      expect.objectContaining({
        reqId: response.headers['request-id'],
        method: 'GET',
        url: `${COLLECTION}?$top=1`,
        statusCode: 200,
        tenantId: tenants[tenants.length - 1],
        applicationId: expect.any(String),
        durationMs: expect.any(Number),
      }),
    );
  });

  test('lines of a rejected token share its request id', async () => {
    const token = await newToken();
    const lines = await expectOneRequestId(
      { method: 'GET', url: COLLECTION, headers: { authorization: `Bearer x${token}` } },
      401,
    );

    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  test('lines of an expired token share its request id', async () => {
    const token = await newToken({ exp: nowInSeconds() - 3600, nbf: nowInSeconds() - 7200 });

    await expectOneRequestId(
      { method: 'GET', url: COLLECTION, headers: { authorization: `Bearer ${token}` } },
      401,
    );
  });

  test('lines of a throttled request share its request id', async () => {
    const token = await newToken();
    const request = {
      method: 'GET',
      url: COLLECTION,
      headers: { authorization: `Bearer ${token}` },
    };
    for (let sent = 0; sent < REQUEST_LIMIT; sent++) {
      expect((await send(request)).response.statusCode).toBe(200);
    }

    const lines = await expectOneRequestId(request, 429);

    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  test('lines of a create and an invalid body share their request ids', async () => {
    const token = await newToken();
    const headers = { authorization: `Bearer ${token}` };

    await expectOneRequestId(
      { method: 'POST', url: COLLECTION, headers, payload: { deviceName: 'logged' } },
      201,
    );
    await expectOneRequestId(
      { method: 'POST', url: COLLECTION, headers, payload: { endpointAnalyticsScore: '87.5' } },
      400,
    );
  });

  test('secret-bearing headers and batch bodies are not logged', async () => {
    const token = await newToken();
    const secretCookie = `session=${randomBytes(16).toString('hex')}`;
    const innerToken = await newToken();
    secrets.push(secretCookie);

    await send({
      method: 'GET',
      url: COLLECTION,
      headers: {
        authorization: `Bearer ${token}`,
        cookie: secretCookie,
        'proxy-authorization': `Bearer ${token}`,
      },
    });
    await send({
      method: 'POST',
      url: '/beta/$batch',
      headers: { authorization: `Bearer ${token}` },
      payload: {
        requests: [
          {
            id: '1',
            method: 'GET',
            url: '/deviceManagement/userExperienceAnalyticsDeviceScores',
            headers: { authorization: `Bearer ${innerToken}` },
          },
        ],
      },
    });

    expect(captured.lines.length).toBeGreaterThan(0);
  });

  // Runs last: it checks every line the tests above produced.
  test('no line contains a token or a secret', () => {
    const signatures = secrets
      .filter((secret) => secret.split('.').length === 3)
      .map((token) => token.split('.')[2]);
    const leaks = captured.lines.filter((line) =>
      [...secrets, ...signatures].some((secret) => line.includes(secret)),
    );

    expect(secrets.length).toBeGreaterThan(5);
    expect(captured.lines.length).toBeGreaterThan(20);
    expect(leaks).toEqual([]);
  });
});
