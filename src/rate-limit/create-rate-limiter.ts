import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { RateLimiter } from './rate-limiter.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

/**
 * Creates the rate limiter for REDIS_URL: shared through Redis when it is set, else in memory,
 * which limits each instance on its own.
 */
export function createRateLimiter(redisUrl: string | undefined): RateLimiter {
  return redisUrl ? RedisRateLimiter.fromUrl(redisUrl) : new MemoryRateLimiter();
}
