import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import type { HttpResponse } from '../support/http-client.js';
import {
  READ,
  READ_WRITE,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const COLLECTION = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
const READ_LIMIT = 50;
const WRITE_LIMIT = 5;
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_KEY_PREFIX = 'eas:rate-limit:';

/** Upper bound on requests any loop below sends before it gives up. */
const MAX_REQUESTS_PER_LOOP = 200;

/** Returns why Redis cannot be used, or undefined when PING succeeds. */
async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();

    return undefined;
  } catch (error) {
    return `${REDIS_URL} is not reachable: ${(error as Error).message}`;
  } finally {
    client.disconnect();
  }
}

const redisUnavailable = await probeRedis();
if (redisUnavailable !== undefined) {
  console.warn(`Skipping the shared Redis rate limit test because ${redisUnavailable}`);
}
const testWithRedis = redisUnavailable === undefined ? test : test.skip;
const redisTestName =
  redisUnavailable === undefined
    ? 'two instances on one Redis share one limit'
    : `two instances on one Redis share one limit (skipped: ${redisUnavailable})`;

/** One application in one tenant, with its own counters. */
interface Caller {
  tenantId: string;
  applicationId: string;
}

/** Every tenant a test used, so the rows its writes created can be deleted at the end. */
const usedTenants: string[] = [];

function newCaller(): Caller {
  const caller = { tenantId: randomUUID(), applicationId: randomUUID() };
  usedTenants.push(caller.tenantId);

  return caller;
}

function expectThrottled(response: HttpResponse, windowSeconds: number): void {
  expect(response.statusCode).toBe(429);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(body.error.code).toBe('TooManyRequests');
  expect(body.error.innerError['request-id']).toBe(response.headers['request-id']);
  const retryAfter = response.headers['retry-after'];
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowSeconds);
}

function statusesOf(responses: HttpResponse[]): number[] {
  return responses.map((response) => response.statusCode);
}

describe('rate limits', () => {
  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [
      usedTenants,
    ]);
  });

  async function tokenFor(
    service: TestApp,
    caller: Caller,
    scopes = READ_WRITE,
    version: 1 | 2 = 2,
  ): Promise<string> {
    const application =
      version === 1 ? { appid: caller.applicationId } : { azp: caller.applicationId };

    return service.issuer.mint(
      { tid: caller.tenantId, scp: scopes, ...application },
      { issuerVersion: version },
    );
  }

  async function readMany(service: TestApp, token: string, count: number): Promise<HttpResponse[]> {
    const responses: HttpResponse[] = [];
    for (let index = 0; index < count; index += 1) {
      responses.push(await service.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token }));
    }

    return responses;
  }

  describe('per application per tenant in memory', () => {
    const WINDOW_SECONDS = 20;
    let service: TestApp;

    beforeAll(async () => {
      service = await startTestApp({
        THROTTLE_REQUESTS: String(READ_LIMIT),
        THROTTLE_WRITES: String(WRITE_LIMIT),
        THROTTLE_WINDOW_SECONDS: String(WINDOW_SECONDS),
      });
    });

    afterAll(async () => {
      await service.close();
    });

    test('60 reads give 50 successes then 429', async () => {
      const caller = newCaller();
      const token = await tokenFor(service, caller, READ);

      const responses = await readMany(service, token, 60);

      expect(statusesOf(responses.slice(0, READ_LIMIT))).toEqual(Array(READ_LIMIT).fill(200));
      for (const response of responses.slice(READ_LIMIT)) {
        expectThrottled(response, WINDOW_SECONDS);
      }
    });

    test('other application and other tenant are unaffected', async () => {
      const caller = newCaller();
      const exhausted = await tokenFor(service, caller);
      await readMany(service, exhausted, READ_LIMIT + 1);

      const otherApplication = await tokenFor(service, { ...caller, applicationId: randomUUID() });
      const otherTenant = await tokenFor(service, { ...caller, tenantId: randomUUID() });
      const byOtherApplication = await readMany(service, otherApplication, 5);
      const byOtherTenant = await readMany(service, otherTenant, 5);
      const stillExhausted = await service.request({
        method: 'GET',
        url: COLLECTION,
        token: exhausted,
      });

      expect(statusesOf(byOtherApplication)).toEqual([200, 200, 200, 200, 200]);
      expect(statusesOf(byOtherTenant)).toEqual([200, 200, 200, 200, 200]);
      expectThrottled(stillExhausted, WINDOW_SECONDS);
    });

    test('same application cannot escape by changing token form', async () => {
      const caller = newCaller();
      await readMany(service, await tokenFor(service, caller), READ_LIMIT);

      const v1Token = await tokenFor(service, caller, READ_WRITE, 1);
      const upperCase = await tokenFor(service, {
        tenantId: caller.tenantId.toUpperCase(),
        applicationId: caller.applicationId.toUpperCase(),
      });
      const otherUser = await service.issuer.mint({
        tid: caller.tenantId,
        azp: caller.applicationId,
        scp: READ,
        sub: randomUUID(),
        oid: randomUUID(),
      });

      for (const token of [v1Token, upperCase, otherUser]) {
        expectThrottled(
          await service.request({ method: 'GET', url: COLLECTION, token }),
          WINDOW_SECONDS,
        );
      }
    });

    test('rejected tokens do not count', async () => {
      const caller = newCaller();
      const expired = await service.issuer.mint({
        tid: caller.tenantId,
        azp: caller.applicationId,
        scp: READ,
        exp: Math.floor(Date.now() / 1000) - 3600,
      });
      const wrongAudience = await service.issuer.mint({
        tid: caller.tenantId,
        azp: caller.applicationId,
        scp: READ,
        aud: 'api://another-app',
      });

      const rejected = [
        ...(await readMany(service, expired, 40)),
        ...(await readMany(service, wrongAudience, 40)),
      ];
      const accepted = await readMany(service, await tokenFor(service, caller, READ), READ_LIMIT);

      expect(new Set(statusesOf(rejected))).toEqual(new Set([401]));
      expect(statusesOf(accepted)).toEqual(Array(READ_LIMIT).fill(200));
    });

    test('writes are limited separately', async () => {
      const caller = newCaller();
      const token = await tokenFor(service, caller);

      const writes: HttpResponse[] = [];
      for (let index = 0; index < WRITE_LIMIT + 2; index += 1) {
        writes.push(await service.request({ method: 'POST', url: COLLECTION, payload: {}, token }));
      }
      const patch = await service.request({
        method: 'PATCH',
        url: `${COLLECTION}/${randomUUID()}`,
        payload: {},
        token,
      });
      const remove = await service.request({
        method: 'DELETE',
        url: `${COLLECTION}/${randomUUID()}`,
        token,
      });
      const reads = await readMany(service, token, 5);

      expect(statusesOf(writes.slice(0, WRITE_LIMIT))).toEqual(Array(WRITE_LIMIT).fill(201));
      for (const response of [...writes.slice(WRITE_LIMIT), patch, remove]) {
        expectThrottled(response, WINDOW_SECONDS);
        expect(response.json().error.message).toMatch(/writes/);
      }
      expect(statusesOf(reads)).toEqual([200, 200, 200, 200, 200]);
    });

    test('parallel burst admits exactly the limit', async () => {
      const caller = newCaller();
      const token = await tokenFor(service, caller, READ);

      const responses = await Promise.all(
        Array.from({ length: 80 }, () =>
          service.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token }),
        ),
      );

      const statuses = statusesOf(responses);
      expect(statuses.filter((status) => status === 200)).toHaveLength(READ_LIMIT);
      expect(statuses.filter((status) => status === 429)).toHaveLength(80 - READ_LIMIT);
    });

    test('health endpoints are not limited', async () => {
      const caller = newCaller();
      const token = await tokenFor(service, caller, READ);
      await readMany(service, token, READ_LIMIT + 1);

      const live = await service.request({ method: 'GET', url: '/health/live', token });

      expect(live.statusCode).toBe(200);
    });
  });

  describe('recovery after Retry-After', () => {
    const WINDOW_SECONDS = 2;
    let service: TestApp;

    beforeAll(async () => {
      service = await startTestApp({
        THROTTLE_REQUESTS: String(READ_LIMIT),
        THROTTLE_WRITES: String(WRITE_LIMIT),
        THROTTLE_WINDOW_SECONDS: String(WINDOW_SECONDS),
      });
    });

    afterAll(async () => {
      await service.close();
    });

    test('request after waiting Retry-After is 200', async () => {
      const token = await tokenFor(service, newCaller(), READ);

      let throttled: HttpResponse | undefined;
      for (let index = 0; index < MAX_REQUESTS_PER_LOOP && throttled === undefined; index += 1) {
        const response = await service.request({
          method: 'GET',
          url: `${COLLECTION}?$top=1`,
          token,
        });
        if (response.statusCode === 429) {
          throttled = response;
        } else {
          expect(response.statusCode).toBe(200);
        }
      }
      expect(throttled).toBeDefined();
      const retryAfter = Number(throttled?.headers['retry-after']);
      expectThrottled(throttled as HttpResponse, WINDOW_SECONDS);

      await sleep(retryAfter * 1000);
      const after = await service.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token });

      expect(after.statusCode).toBe(200);
    });
  });

  describe('shared through Redis', () => {
    const WINDOW_SECONDS = 20;
    const services: TestApp[] = [];
    const caller = newCaller();

    beforeAll(async () => {
      if (redisUnavailable !== undefined) {
        return;
      }
      for (let index = 0; index < 2; index += 1) {
        services.push(
          await startTestApp({
            REDIS_URL,
            THROTTLE_REQUESTS: String(READ_LIMIT),
            THROTTLE_WRITES: String(WRITE_LIMIT),
            THROTTLE_WINDOW_SECONDS: String(WINDOW_SECONDS),
          }),
        );
      }
    });

    afterAll(async () => {
      for (const service of services) {
        await service.close();
      }
      if (redisUnavailable === undefined) {
        const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
        const keys = await client.keys(`${REDIS_KEY_PREFIX}${caller.tenantId}:*`);
        if (keys.length > 0) {
          await client.del(...keys);
        }
        await client.quit();
      }
    });

    testWithRedis(redisTestName, async () => {
      const [first, second] = services;
      const firstToken = await tokenFor(first, caller, READ);
      const secondToken = await tokenFor(second, caller, READ);

      const responses: HttpResponse[] = [];
      for (let index = 0; index < 30; index += 1) {
        responses.push(
          await first.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token: firstToken }),
        );
        responses.push(
          await second.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token: secondToken }),
        );
      }

      const statuses = statusesOf(responses);
      expect(statuses.slice(0, READ_LIMIT)).toEqual(Array(READ_LIMIT).fill(200));
      for (const response of responses.slice(READ_LIMIT)) {
        expectThrottled(response, WINDOW_SECONDS);
      }
      const otherApplication = await tokenFor(second, { ...caller, applicationId: randomUUID() });
      const unaffected = await second.request({
        method: 'GET',
        url: COLLECTION,
        token: otherApplication,
      });
      expect(unaffected.statusCode).toBe(200);
    });
  });
});
