/** The outcome of counting one request against a limit. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Whole seconds until a request under the same key would be allowed again, or 0 when allowed. */
  readonly retryAfterSeconds: number;
}

/**
 * A sliding-window request counter. `consume` counts one request under `key` if fewer than `limit`
 * requests were counted in the last `windowSeconds`. A rejected request is not counted.
 */
export interface RateLimiter {
  consume(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
}

/** Nest injection token for the configured `RateLimiter`. */
export const RATE_LIMITER = Symbol('RATE_LIMITER');

/** Throws a TypeError for a limit or window that no caller should pass. */
export function assertValidLimit(limit: number, windowSeconds: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new TypeError(`Rate limit must be a positive integer, got ${limit}`);
  }
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
    throw new TypeError(
      `Rate limit window must be a positive number of seconds, got ${windowSeconds}`,
    );
  }
}
