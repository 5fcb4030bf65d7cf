import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';

import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import type { RateLimitDecision } from '../../src/rate-limit/rate-limiter.js';

/** Creates a clock in milliseconds that the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;

  return { now: () => time, advance: (ms) => (time += ms) };
}

async function consumeTimes(
  limiter: MemoryRateLimiter,
  key: string,
  times: number,
  limit: number,
  windowSeconds: number,
): Promise<RateLimitDecision[]> {
  const decisions: RateLimitDecision[] = [];
  for (let index = 0; index < times; index += 1) {
    decisions.push(await limiter.consume(key, limit, windowSeconds));
  }

  return decisions;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('MemoryRateLimiter', () => {
  it('allows 50 of 60 calls with limit 50', async () => {
    const limiter = new MemoryRateLimiter();

    const decisions = await consumeTimes(limiter, 'tenant:app', 60, 50, 20);

    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(50);
    expect(decisions.slice(0, 50).every((decision) => decision.allowed)).toBe(true);
    expect(decisions.slice(0, 50).every((decision) => decision.retryAfterSeconds === 0)).toBe(true);
    for (const decision of decisions.slice(50)) {
      expect(decision.allowed).toBe(false);
      expect(Number.isInteger(decision.retryAfterSeconds)).toBe(true);
      expect(decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(decision.retryAfterSeconds).toBeLessThanOrEqual(20);
    }
  });

  it('keeps other keys unaffected', async () => {
    const limiter = new MemoryRateLimiter();
    await consumeTimes(limiter, 'tenant-1:app-1', 3, 3, 20);

    const blocked = await limiter.consume('tenant-1:app-1', 3, 20);
    const otherApp = await limiter.consume('tenant-1:app-2', 3, 20);
    const otherTenant = await limiter.consume('tenant-2:app-1', 3, 20);

    expect(blocked.allowed).toBe(false);
    expect(otherApp.allowed).toBe(true);
    expect(otherTenant.allowed).toBe(true);
  });

  it('allows requests again once the window passes', async () => {
    const limiter = new MemoryRateLimiter();
    await consumeTimes(limiter, 'key', 2, 2, 1);
    const blocked = await limiter.consume('key', 2, 1);
    expect(blocked.allowed).toBe(false);

    await sleep(blocked.retryAfterSeconds * 1000);

    await expect(limiter.consume('key', 2, 1)).resolves.toMatchObject({ allowed: true });
  });

  it('slides the window instead of resetting it', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ clock: clock.now });
    await limiter.consume('key', 2, 10);
    clock.advance(6_000);
    await limiter.consume('key', 2, 10);

    const blocked = await limiter.consume('key', 2, 10);
    clock.advance(4_000);
    const afterFirstLeaves = await limiter.consume('key', 2, 10);
    const blockedAgain = await limiter.consume('key', 2, 10);

    expect(blocked).toEqual({ allowed: false, retryAfterSeconds: 4 });
    expect(afterFirstLeaves.allowed).toBe(true);
    expect(blockedAgain).toEqual({ allowed: false, retryAfterSeconds: 6 });
  });

  it('does not count rejected requests', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ clock: clock.now });
    await consumeTimes(limiter, 'key', 100, 5, 10);

    clock.advance(10_000);
    const decisions = await consumeTimes(limiter, 'key', 6, 5, 10);

    expect(decisions.map((decision) => decision.allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
  });

  it('rounds Retry-After up to whole seconds, at least 1', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ clock: clock.now });
    await limiter.consume('key', 1, 2);

    clock.advance(1_970);
    const almostFree = await limiter.consume('key', 1, 2);
    clock.advance(-1_470);
    const halfway = await limiter.consume('key', 1, 2);

    expect(almostFree).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(halfway).toEqual({ allowed: false, retryAfterSeconds: 2 });
  });

  it('drops the least recently used key beyond maxKeys', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const limiter = new MemoryRateLimiter({ maxKeys: 3 });
      await limiter.consume('a', 1, 60);
      await limiter.consume('b', 1, 60);
      await limiter.consume('c', 1, 60);
      await limiter.consume('a', 1, 60);

      await limiter.consume('d', 1, 60);
      await limiter.consume('e', 1, 60);

      expect(limiter.size).toBe(3);
      // 'a' was used after 'b' and 'c', so it stays limited while 'b' was dropped and starts over.
      await expect(limiter.consume('a', 1, 60)).resolves.toMatchObject({ allowed: false });
      await expect(limiter.consume('b', 1, 60)).resolves.toMatchObject({ allowed: true });
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('sweeps keys whose window has passed', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ clock: clock.now });
    for (let index = 0; index < 100; index += 1) {
      await limiter.consume(`key-${index}`, 10, 5);
    }
    expect(limiter.size).toBe(100);

    clock.advance(61_000);
    await limiter.consume('fresh', 10, 5);

    expect(limiter.size).toBe(1);
  });

  it.each([
    [0, 20],
    [-1, 20],
    [1.5, 20],
    [Number.NaN, 20],
    [10, 0],
    [10, -5],
    [10, Number.POSITIVE_INFINITY],
  ])('rejects limit %p with window %p', async (limit, windowSeconds) => {
    const limiter = new MemoryRateLimiter();

    await expect(limiter.consume('key', limit, windowSeconds)).rejects.toThrow(TypeError);
  });

  it('rejects a maxKeys below 1', () => {
    expect(() => new MemoryRateLimiter({ maxKeys: 0 })).toThrow(TypeError);
  });
});
