import { performance } from 'node:perf_hooks';

import { Logger } from '@nestjs/common';

import { assertValidLimit, type RateLimitDecision, type RateLimiter } from './rate-limiter.js';

/** Milliseconds by which a timer may fire before the clock shows its full delay. */
const TIMER_SLACK_MS = 20;

export interface MemoryRateLimiterOptions {
  /**
   * Maximum number of keys kept at once. Beyond it the least recently used key is dropped, which
   * resets that key's count. Default 10000.
   */
  readonly maxKeys?: number;
  /** Milliseconds from a monotonic clock. Default `performance.now`. */
  readonly clock?: () => number;
}

interface KeyWindow {
  /** Times of the counted requests, oldest first, in clock milliseconds. */
  timestamps: number[];
  windowMs: number;
}

const DEFAULT_MAX_KEYS = 10_000;
const SWEEP_INTERVAL_MS = 60_000;

/**
 * A sliding-window log in process memory. It counts exactly by storing one timestamp per counted
 * request. Memory is bounded by `maxKeys` times the largest limit, and keys whose window has
 * passed are swept once a minute.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly logger = new Logger(MemoryRateLimiter.name);
  /** Map order is least recently used first, because each access re-inserts its key. */
  private readonly windows = new Map<string, KeyWindow>();
  private readonly maxKeys: number;
  private readonly clock: () => number;
  private lastSweep: number;
  private evictions = 0;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isSafeInteger(this.maxKeys) || this.maxKeys < 1) {
      throw new TypeError(`maxKeys must be a positive integer, got ${this.maxKeys}`);
    }
    this.clock = options.clock ?? (() => performance.now());
    this.lastSweep = this.clock();
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.windows.size;
  }

  consume(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    // A TypeError from an invalid limit becomes a rejection, as from any other limiter.
    return new Promise((resolve) => resolve(this.decide(key, limit, windowSeconds)));
  }

  private decide(key: string, limit: number, windowSeconds: number): RateLimitDecision {
    assertValidLimit(limit, windowSeconds);
    const now = this.clock();
    const windowMs = windowSeconds * 1000;
    this.sweepIfDue(now);

    const entry = this.windows.get(key) ?? { timestamps: [], windowMs };
    entry.windowMs = windowMs;
    // A client that sleeps exactly Retry-After seconds can wake a few milliseconds early by this
    // clock, because timers round to whole milliseconds, so that margin already counts as passed.
    dropExpired(entry.timestamps, now - windowMs + TIMER_SLACK_MS);
    this.touch(key, entry);

    const count = entry.timestamps.length;
    if (count >= limit) {
      // The next request fits once enough of the oldest counted ones leave the window.
      const freedAt = entry.timestamps[count - limit] + windowMs - TIMER_SLACK_MS;

      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((freedAt - now) / 1000)) };
    }
    entry.timestamps.push(now);

    return { allowed: true, retryAfterSeconds: 0 };
  }

  private touch(key: string, entry: KeyWindow): void {
    this.windows.delete(key);
    this.windows.set(key, entry);

    while (this.windows.size > this.maxKeys) {
      const oldestKey = this.windows.keys().next().value as string;
      this.windows.delete(oldestKey);
      this.evictions += 1;
      if (this.evictions === 1 || this.evictions % 10_000 === 0) {
        this.logger.warn(
          `The in-memory rate limiter reached its maximum of ${this.maxKeys} keys, so it drops ` +
            `the least recently used keys and resets their counts (${this.evictions} dropped so far)`,
        );
      }
    }
  }

  private sweepIfDue(now: number): void {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) {
      return;
    }
    this.lastSweep = now;
    for (const [key, entry] of this.windows) {
      const newest = entry.timestamps.at(-1);
      if (newest === undefined || newest <= now - entry.windowMs) {
        this.windows.delete(key);
      }
    }
  }
}

/** Removes timestamps at or before `cutoff` from the front of a sorted array. */
function dropExpired(timestamps: number[], cutoff: number): void {
  let expired = 0;
  while (expired < timestamps.length && timestamps[expired] <= cutoff) {
    expired += 1;
  }
  if (expired > 0) {
    timestamps.splice(0, expired);
  }
}
