import { Logger } from '@nestjs/common';

import type { RateLimiter } from './rate-limiter.js';
import { GraphErrorCode, GraphException } from '../odata/http/graph-error.js';

/** Rate limits from THROTTLE_REQUESTS, THROTTLE_WRITES and THROTTLE_WINDOW_SECONDS. */
export interface ThrottleLimits {
  /** Requests of any method allowed per window. */
  readonly requests: number;
  /** Write requests allowed per window, counted in addition to `requests`. */
  readonly writes: number;
  readonly windowSeconds: number;
}

/** The caller a limit applies to: one application in one tenant. */
export interface ThrottleSubject {
  readonly tenantId: string;
  readonly applicationId: string;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Applies the service's rate limits per application per tenant. Every request counts against
 * `requests`, and writes (POST, PUT, PATCH, DELETE) also count against `writes`.
 */
export class ThrottlePolicy {
  private readonly logger = new Logger(ThrottlePolicy.name);

  constructor(
    private readonly limiter: RateLimiter,
    private readonly limits: ThrottleLimits,
  ) {}

  /**
   * Counts one request of `method` for `subject`.
   *
   * A write rejected by the write limit still counts as a request.
   *
   * @throws GraphException 429 (TooManyRequests) with `Retry-After` in whole seconds, at least 1.
   */
  async enforce(subject: ThrottleSubject, method: string): Promise<void> {
    const key = `${subject.tenantId.toLowerCase()}:${subject.applicationId.toLowerCase()}`;
    const { requests, writes, windowSeconds } = this.limits;

    const requestDecision = await this.limiter.consume(`${key}:requests`, requests, windowSeconds);
    if (!requestDecision.allowed) {
      throw this.tooManyRequests(subject, 'requests', requests, requestDecision.retryAfterSeconds);
    }

    if (!WRITE_METHODS.has(method.toUpperCase())) {
      return;
    }
    const writeDecision = await this.limiter.consume(`${key}:writes`, writes, windowSeconds);
    if (!writeDecision.allowed) {
      throw this.tooManyRequests(subject, 'writes', writes, writeDecision.retryAfterSeconds);
    }
  }

  private tooManyRequests(
    subject: ThrottleSubject,
    kind: 'requests' | 'writes',
    limit: number,
    retryAfterSeconds: number,
  ): GraphException {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    const windowSeconds = this.limits.windowSeconds;
    this.logger.debug(
      `Throttled application ${subject.applicationId} in tenant ${subject.tenantId}: ` +
        `over ${limit} ${kind} per ${windowSeconds} s`,
    );

    return new GraphException(
      GraphErrorCode.TooManyRequests,
      `Too many ${kind}: this application may send ${limit} ${kind} per ${windowSeconds} seconds ` +
        `in this tenant. Retry after ${seconds} seconds.`,
      { 'Retry-After': String(seconds) },
    );
  }
}
