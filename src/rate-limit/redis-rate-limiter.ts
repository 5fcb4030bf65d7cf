import { randomUUID } from 'node:crypto';

import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';

import { MemoryRateLimiter } from './memory-rate-limiter.js';
import { assertValidLimit, type RateLimitDecision, type RateLimiter } from './rate-limiter.js';

export interface RedisRateLimiterOptions {
  /** Prefix of every Redis key this limiter writes. Default 'eas:rate-limit:'. */
  readonly keyPrefix?: string;
  /** A Redis call that takes longer counts as failed. Default 250 ms. */
  readonly commandTimeoutMs?: number;
  /** After a failure, skip Redis and count in memory for this long. Default 5000 ms. */
  readonly retryIntervalMs?: number;
  /** Counts requests while Redis fails. Default a new `MemoryRateLimiter`. */
  readonly fallback?: RateLimiter;
}

/**
 * Sliding-window log in a sorted set: members are requests, scores their time in microseconds from
 * the Redis server clock, so all instances share one clock. Rejected requests are not added.
 * Returns {1, 0} when counted, or {0, microseconds until a request would fit}.
 * Redis 5 or later is required, because the script writes after reading TIME.
 */
const CONSUME_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local freed = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return {0, tonumber(freed[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, 0}
`;

const COMMAND_NAME = 'easConsumeRateLimit';
const DEFAULT_KEY_PREFIX = 'eas:rate-limit:';
const DEFAULT_COMMAND_TIMEOUT_MS = 250;
const DEFAULT_RETRY_INTERVAL_MS = 5_000;

type ConsumeCommand = (
  key: string,
  limit: number,
  windowMicroseconds: number,
  member: string,
) => Promise<[number, number]>;

/**
 * A rate limiter shared by all instances through Redis (REDIS_URL). When a Redis call fails or
 * times out after `commandTimeoutMs`, requests are counted in memory instead. The outage and the
 * recovery are each logged once.
 *
 * NOTE: a call that timed out may still run in Redis later, so a request can be counted both in
 * Redis and in memory around the start of an outage.
 */
export class RedisRateLimiter implements RateLimiter, OnModuleDestroy {
  private readonly logger = new Logger(RedisRateLimiter.name);
  private readonly keyPrefix: string;
  private readonly commandTimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly fallback: RateLimiter;
  private readonly consumeInRedis: ConsumeCommand;
  private skipRedisUntil = 0;
  private outageStartedAt?: number;

  /**
   * @param client an ioredis client. Create it with `enableOfflineQueue: false`, so that calls
   *   fail at once while disconnected instead of being replayed after the reconnect.
   * @param ownsClient whether `close()` also closes the client.
   */
  constructor(
    private readonly client: Redis,
    options: RedisRateLimiterOptions = {},
    private readonly ownsClient = false,
  ) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.retryIntervalMs = options.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS;
    this.fallback = options.fallback ?? new MemoryRateLimiter();

    client.defineCommand(COMMAND_NAME, { numberOfKeys: 1, lua: CONSUME_SCRIPT });
    const command = (client as unknown as Record<string, ConsumeCommand>)[COMMAND_NAME];
    this.consumeInRedis = command.bind(client);
    // Without a listener ioredis prints every connection error. The outage is logged in consume.
    client.on('error', (error: Error) => {
      this.logger.debug(`Redis connection error: ${error.message}`);
    });
  }

  /** Creates a limiter with its own client for `url` (REDIS_URL), closed by `close()`. */
  static fromUrl(url: string, options: RedisRateLimiterOptions = {}): RedisRateLimiter {
    const client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
    });

    return new RedisRateLimiter(client, options, true);
  }

  async consume(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    assertValidLimit(limit, windowSeconds);
    if (Date.now() < this.skipRedisUntil) {
      return this.fallback.consume(key, limit, windowSeconds);
    }

    try {
      const [allowed, retryAfterMicroseconds] = await this.withTimeout(
        this.consumeInRedis(
          this.keyPrefix + key,
          limit,
          Math.ceil(windowSeconds * 1_000_000),
          randomUUID(),
        ),
      );
      this.endOutage();

      return allowed === 1
        ? { allowed: true, retryAfterSeconds: 0 }
        : {
            allowed: false,
            retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMicroseconds / 1_000_000)),
          };
    } catch (error) {
      this.startOutage(error);

      return this.fallback.consume(key, limit, windowSeconds);
    }
  }

  /** Closes the Redis client when this limiter created it. */
  async close(): Promise<void> {
    if (!this.ownsClient || this.client.status === 'end') {
      return;
    }
    if (this.client.status !== 'ready') {
      // Stops reconnecting. QUIT would only fail without a connection to send it on.
      this.client.disconnect();

      return;
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.close();
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`Redis call timed out after ${this.commandTimeoutMs} ms`));
      }, this.commandTimeoutMs);
    });

    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private startOutage(error: unknown): void {
    this.skipRedisUntil = Date.now() + this.retryIntervalMs;
    if (this.outageStartedAt !== undefined) {
      return;
    }
    this.outageStartedAt = Date.now();
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `Redis rate limiting failed (${reason}). Counting requests in this process's memory and ` +
        `retrying Redis every ${this.retryIntervalMs} ms.`,
    );
  }

  private endOutage(): void {
    if (this.outageStartedAt === undefined) {
      return;
    }
    const seconds = Math.round((Date.now() - this.outageStartedAt) / 1000);
    this.outageStartedAt = undefined;
    this.logger.log(
      `Redis responds again after ${seconds} s. Rate limits are shared through Redis again.`,
    );
  }
}
