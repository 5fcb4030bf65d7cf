import { Logger } from '@nestjs/common';

import { GraphErrorCode, GraphException } from '../../src/odata/http/graph-error.js';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import type { RateLimitDecision, RateLimiter } from '../../src/rate-limit/rate-limiter.js';
import { ThrottlePolicy, type ThrottleSubject } from '../../src/rate-limit/throttle-policy.js';

const T1 = '11111111-1111-1111-1111-111111111111';
const T2 = '22222222-2222-2222-2222-222222222222';
const APP = 'aaaaaaaa-0000-4000-8000-000000000001';
const OTHER_APP = 'bbbbbbbb-0000-4000-8000-000000000002';

/** Runs one request and returns 200 or the Retry-After value of the 429. */
async function outcome(policy: ThrottlePolicy, subject: ThrottleSubject, method = 'GET') {
  try {
    await policy.enforce(subject, method);

    return 200;
  } catch (error) {
    expect(error).toBeInstanceOf(GraphException);
    const exception = error as GraphException;
    expect(exception.status).toBe(429);
    expect(exception.code).toBe(GraphErrorCode.TooManyRequests);

    return exception.headers['Retry-After'];
  }
}

function policyWith(requests: number, writes: number, windowSeconds = 20): ThrottlePolicy {
  return new ThrottlePolicy(new MemoryRateLimiter(), { requests, writes, windowSeconds });
}

beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('ThrottlePolicy requests', () => {
  it('allows 50 of 60 requests, then 429 with Retry-After', async () => {
    const policy = policyWith(50, 10);
    const subject = { tenantId: T1, applicationId: APP };
    const outcomes = [];

    for (let index = 0; index < 60; index += 1) {
      outcomes.push(await outcome(policy, subject));
    }

    expect(outcomes.slice(0, 50)).toEqual(Array(50).fill(200));
    for (const retryAfter of outcomes.slice(50)) {
      expect(retryAfter).toMatch(/^[1-9]\d*$/);
      expect(Number(retryAfter)).toBeLessThanOrEqual(20);
    }
  });

  it('keeps other applications and tenants apart', async () => {
    const policy = policyWith(2, 2);
    await outcome(policy, { tenantId: T1, applicationId: APP });
    await outcome(policy, { tenantId: T1, applicationId: APP });

    expect(await outcome(policy, { tenantId: T1, applicationId: APP })).not.toBe(200);
    expect(await outcome(policy, { tenantId: T1, applicationId: OTHER_APP })).toBe(200);
    expect(await outcome(policy, { tenantId: T2, applicationId: APP })).toBe(200);
  });

  it('ignores the case of keys', async () => {
    const policy = policyWith(1, 1);
    await outcome(policy, { tenantId: T1, applicationId: 'App-X' });

    const result = await outcome(policy, { tenantId: T1.toUpperCase(), applicationId: 'APP-x' });

    expect(result).not.toBe(200);
  });

  it('allows requests again after Retry-After', async () => {
    const policy = policyWith(1, 1, 1);
    const subject = { tenantId: T1, applicationId: APP };
    await outcome(policy, subject);
    const retryAfter = await outcome(policy, subject);
    expect(retryAfter).not.toBe(200);

    await new Promise((resolve) => setTimeout(resolve, Number(retryAfter) * 1000));

    expect(await outcome(policy, subject)).toBe(200);
  });

  it('names the limit in the message', async () => {
    const policy = policyWith(1, 1, 20);
    const subject = { tenantId: T1, applicationId: APP };
    await policy.enforce(subject, 'GET');

    await expect(policy.enforce(subject, 'GET')).rejects.toThrow(/1 requests per 20 seconds/);
  });
});

describe('ThrottlePolicy writes', () => {
  it.each(['POST', 'PATCH', 'DELETE', 'PUT', 'post'])('counts %s as a write', async (method) => {
    const policy = policyWith(100, 2);
    const subject = { tenantId: T1, applicationId: APP };

    const outcomes = [
      await outcome(policy, subject, method),
      await outcome(policy, subject, method),
      await outcome(policy, subject, method),
    ];

    expect(outcomes.slice(0, 2)).toEqual([200, 200]);
    expect(outcomes[2]).toMatch(/^[1-9]\d*$/);
  });

  it('keeps reads allowed past the write limit', async () => {
    const policy = policyWith(100, 1);
    const subject = { tenantId: T1, applicationId: APP };
    await outcome(policy, subject, 'POST');

    expect(await outcome(policy, subject, 'PATCH')).not.toBe(200);
    expect(await outcome(policy, subject, 'GET')).toBe(200);
  });

  it.each(['GET', 'HEAD', 'OPTIONS'])('does not count %s as a write', async (method) => {
    const policy = policyWith(100, 1);
    const subject = { tenantId: T1, applicationId: APP };
    for (let index = 0; index < 5; index += 1) {
      await outcome(policy, subject, method);
    }

    expect(await outcome(policy, subject, 'POST')).toBe(200);
  });

  it('counts writes against the request limit too', async () => {
    const policy = policyWith(2, 10);
    const subject = { tenantId: T1, applicationId: APP };
    await outcome(policy, subject, 'POST');
    await outcome(policy, subject, 'DELETE');

    expect(await outcome(policy, subject, 'GET')).not.toBe(200);
  });
});

describe('ThrottlePolicy Retry-After', () => {
  /** Creates a limiter that rejects every request with a fixed retry time. */
  function rejectingLimiter(retryAfterSeconds: number): RateLimiter {
    return {
      consume: (): Promise<RateLimitDecision> =>
        Promise.resolve({ allowed: false, retryAfterSeconds }),
    };
  }

  it.each([
    [0, '1'],
    [0.2, '1'],
    [1, '1'],
    [1.01, '2'],
    [19, '19'],
  ])('turns %p seconds into Retry-After %s', async (seconds, header) => {
    const policy = new ThrottlePolicy(rejectingLimiter(seconds), {
      requests: 1,
      writes: 1,
      windowSeconds: 20,
    });

    expect(await outcome(policy, { tenantId: T1, applicationId: APP })).toBe(header);
  });
});
