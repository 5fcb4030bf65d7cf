import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { GraphException } from '../../src/odata/http/graph-error.js';
import { ThrottlePolicy } from '../../src/rate-limit/throttle-policy.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** Every key this run writes starts with this prefix, and afterAll deletes them. */
const KEY_PREFIX = `eas-test:${randomUUID()}:`;

let redis: Redis;
const openClients: Redis[] = [];

async function connectedClient(): Promise<Redis> {
  const client = new Redis(REDIS_URL, { enableOfflineQueue: false, lazyConnect: true });
  await client.connect();
  openClients.push(client);

  return client;
}

async function createLimiter(
  options: ConstructorParameters<typeof RedisRateLimiter>[1] = {},
): Promise<RedisRateLimiter> {
  return new RedisRateLimiter(await connectedClient(), { keyPrefix: KEY_PREFIX, ...options });
}

/** Returns a loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));

  return port;
}

/** Closes the connection and waits until the client can connect again. */
async function disconnect(client: Redis): Promise<void> {
  const ended = new Promise((resolve) => client.once('end', resolve));
  client.disconnect();
  await ended;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  redis = await connectedClient();
});

afterAll(async () => {
  const keys = await redis.keys(`${KEY_PREFIX}*`);
  if (keys.length > 0) {
    await redis.del(...keys);
  }
  for (const client of openClients) {
    // Calling disconnect on a closed client would leave an ioredis timer running for 2 s.
    if (client.status === 'ready') {
      await client.quit();
    } else if (client.status !== 'end') {
      client.disconnect();
    }
  }
});

describe('RedisRateLimiter', () => {
  it('allows 50 of 60 calls with limit 50', async () => {
    const limiter = await createLimiter();
    const decisions = [];

    for (let index = 0; index < 60; index += 1) {
      decisions.push(await limiter.consume('b08', 50, 20));
    }

    expect(decisions.slice(0, 50).every((decision) => decision.allowed)).toBe(true);
    for (const decision of decisions.slice(50)) {
      expect(decision.allowed).toBe(false);
      expect(Number.isInteger(decision.retryAfterSeconds)).toBe(true);
      expect(decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(decision.retryAfterSeconds).toBeLessThanOrEqual(20);
    }
  });

  it('writes prefixed keys with a TTL of the window', async () => {
    const limiter = await createLimiter();

    await limiter.consume('ttl', 5, 20);

    const ttl = await redis.pttl(`${KEY_PREFIX}ttl`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(20_000);
  });

  it('keeps other keys unaffected', async () => {
    const limiter = await createLimiter();
    for (let index = 0; index < 3; index += 1) {
      await limiter.consume('tenant-1:app-1', 3, 20);
    }

    const blocked = await limiter.consume('tenant-1:app-1', 3, 20);
    const otherApp = await limiter.consume('tenant-1:app-2', 3, 20);
    const otherTenant = await limiter.consume('tenant-2:app-1', 3, 20);

    expect(blocked.allowed).toBe(false);
    expect(otherApp.allowed).toBe(true);
    expect(otherTenant.allowed).toBe(true);
  });

  it('allows requests again once the window passes', async () => {
    const limiter = await createLimiter();
    await limiter.consume('window', 2, 1);
    await limiter.consume('window', 2, 1);
    const blocked = await limiter.consume('window', 2, 1);
    expect(blocked.allowed).toBe(false);

    await sleep(blocked.retryAfterSeconds * 1000);

    await expect(limiter.consume('window', 2, 1)).resolves.toMatchObject({ allowed: true });
  });

  it('counts concurrent calls atomically', async () => {
    const limiter = await createLimiter();

    const decisions = await Promise.all(
      Array.from({ length: 100 }, () => limiter.consume('concurrent', 50, 20)),
    );

    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(50);
  });

  it('shares counts between instances', async () => {
    const first = await createLimiter();
    const second = await createLimiter();

    await first.consume('shared', 2, 20);
    await second.consume('shared', 2, 20);

    await expect(first.consume('shared', 2, 20)).resolves.toMatchObject({ allowed: false });
    await expect(second.consume('shared', 2, 20)).resolves.toMatchObject({ allowed: false });
  });

  it('does not count rejected requests', async () => {
    const limiter = await createLimiter();
    for (let index = 0; index < 10; index += 1) {
      await limiter.consume('rejected', 2, 20);
    }

    expect(await redis.zcard(`${KEY_PREFIX}rejected`)).toBe(2);
  });

  it('throttles 10 of 60 requests in ThrottlePolicy', async () => {
    const policy = new ThrottlePolicy(await createLimiter(), {
      requests: 50,
      writes: 10,
      windowSeconds: 20,
    });
    const subject = { tenantId: '11111111-1111-1111-1111-111111111111', applicationId: 'app-b08' };
    const outcomes: Array<number | string> = [];

    for (let index = 0; index < 60; index += 1) {
      try {
        await policy.enforce(subject, 'GET');
        outcomes.push(200);
      } catch (error) {
        outcomes.push((error as GraphException).headers['Retry-After']);
      }
    }

    expect(outcomes.slice(0, 50).every((outcome) => outcome === 200)).toBe(true);
    expect(outcomes.slice(50).every((outcome) => /^[1-9]\d*$/.test(String(outcome)))).toBe(true);
  });
});

describe('RedisRateLimiter fallback to memory', () => {
  it('counts in memory when Redis is unreachable', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const client = new Redis(`redis://127.0.0.1:${await closedPort()}`, {
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    openClients.push(client);
    client.connect().catch(() => undefined);
    const limiter = new RedisRateLimiter(client, { keyPrefix: KEY_PREFIX, retryIntervalMs: 0 });
    try {
      const decisions = [];
      for (let index = 0; index < 5; index += 1) {
        decisions.push(await limiter.consume('unreachable', 3, 20));
      }

      expect(decisions.map((decision) => decision.allowed)).toEqual([
        true,
        true,
        true,
        false,
        false,
      ]);
      expect(decisions[4].retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
      await limiter.close();
    }
  });

  it('counts in memory when Redis times out', async () => {
    // A TCP server that accepts connections and never replies, like a hung Redis.
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const client = new Redis({
      host: '127.0.0.1',
      port,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      disableClientInfo: true,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    openClients.push(client);
    await client.connect();
    const fallback = new MemoryRateLimiter();
    const limiter = new RedisRateLimiter(client, {
      keyPrefix: KEY_PREFIX,
      commandTimeoutMs: 100,
      fallback,
    });
    try {
      const first = await limiter.consume('silent', 1, 20);
      const second = await limiter.consume('silent', 1, 20);

      expect(first.allowed).toBe(true);
      expect(second.allowed).toBe(false);
      expect(fallback.size).toBe(1);
    } finally {
      client.disconnect();
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('returns to Redis after an outage', async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    const client = await connectedClient();
    const fallback = new MemoryRateLimiter();
    const limiter = new RedisRateLimiter(client, {
      keyPrefix: KEY_PREFIX,
      retryIntervalMs: 0,
      fallback,
    });
    try {
      await disconnect(client);
      await limiter.consume('recovery', 5, 20);
      expect(fallback.size).toBe(1);

      await client.connect();
      await limiter.consume('recovery', 5, 20);

      expect(await redis.zcard(`${KEY_PREFIX}recovery`)).toBe(1);
      expect(log.mock.calls.some(([message]) => String(message).includes('responds again'))).toBe(
        true,
      );
    } finally {
      log.mockRestore();
    }
  });

  it('skips Redis during the retry interval', async () => {
    const client = await connectedClient();
    const limiter = new RedisRateLimiter(client, {
      keyPrefix: KEY_PREFIX,
      retryIntervalMs: 60_000,
    });
    await disconnect(client);
    await limiter.consume('interval', 5, 20);

    await client.connect();
    await limiter.consume('interval', 5, 20);

    expect(await redis.exists(`${KEY_PREFIX}interval`)).toBe(0);
  });
});
