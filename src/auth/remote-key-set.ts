import { Logger } from '@nestjs/common';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwksCache,
  type CryptoKey,
  type ExportedJWKSCache,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type RemoteJWKSet,
} from 'jose';

import type { RemoteKeySource } from './key-source.js';

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_CACHE_MAX_AGE_MS = 600_000;
const DEFAULT_STALE_MAX_AGE_MS = 86_400_000;
const DEFAULT_RETRY_AFTER_SECONDS = 10;

/** Raised when the key set endpoint fails and no usable cached keys exist. Maps to a 503. */
export class KeySetUnavailableError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('The signing key set could not be fetched');
    this.name = 'KeySetUnavailableError';
  }
}

/**
 * Looks up token signing keys in a remote JWKS, through jose's `createRemoteJWKSet` (its cache,
 * cooldown and timeout) with two additions for outages of the endpoint:
 *
 * - after a failed fetch, requests fail fast with `KeySetUnavailableError` for `retryAfterSeconds`
 *   instead of each waiting for the timeout, and
 * - while the endpoint fails, the last fetched key set stays trusted up to `staleMaxAgeMs`.
 */
export class RemoteKeySet {
  private readonly logger = new Logger(RemoteKeySet.name);
  private readonly url: URL;
  private readonly remote: RemoteJWKSet;
  /** Filled by jose after each successful fetch: the key set and its time (`uat`). */
  private readonly cache: Partial<ExportedJWKSCache> = {};
  private readonly staleMaxAgeMs: number;
  private readonly retryAfterSeconds: number;
  private failingUntil = 0;
  /** Start of the current outage, or undefined while the endpoint works. */
  private outageStartedAt?: number;
  private stale?: { uat: number; resolve: ReturnType<typeof createLocalJWKSet> };

  constructor(source: RemoteKeySource) {
    this.url = new URL(source.url);
    this.staleMaxAgeMs = source.staleMaxAgeMs ?? DEFAULT_STALE_MAX_AGE_MS;
    this.retryAfterSeconds = source.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
    this.remote = createRemoteJWKSet(this.url, {
      timeoutDuration: source.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      cooldownDuration: source.cooldownMs ?? DEFAULT_COOLDOWN_MS,
      cacheMaxAge: source.cacheMaxAgeMs ?? DEFAULT_CACHE_MAX_AGE_MS,
      [jwksCache]: this.cache as ExportedJWKSCache,
    });
  }

  /** A jose key lookup function: returns the key for the token header's `alg` and `kid`. */
  readonly resolve = async (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<CryptoKey> => {
    if (Date.now() < this.failingUntil) {
      return this.resolveFromStaleKeys(header, token);
    }

    try {
      const key = await this.remote(header, token);
      this.endOutageAfterFetch();

      return key;
    } catch (error) {
      if (isKeySelectionError(error)) {
        this.endOutageAfterFetch();
        throw error;
      }
      this.startOutage(error);

      return this.resolveFromStaleKeys(header, token);
    }
  };

  private resolveFromStaleKeys(
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<CryptoKey> {
    const { uat, jwks } = this.cache;
    if (uat === undefined || jwks === undefined || Date.now() - uat > this.staleMaxAgeMs) {
      const remainingMs = this.failingUntil - Date.now();
      throw new KeySetUnavailableError(Math.max(1, Math.ceil(remainingMs / 1000)));
    }
    if (this.stale?.uat !== uat) {
      this.stale = { uat, resolve: createLocalJWKSet(jwks) };
    }

    return this.stale.resolve(header, token);
  }

  private startOutage(error: unknown): void {
    this.failingUntil = Date.now() + this.retryAfterSeconds * 1000;
    if (this.outageStartedAt !== undefined) {
      return;
    }
    this.outageStartedAt = Date.now();
    const fallback =
      this.cache.uat === undefined
        ? 'Requests get 503 until it responds.'
        : 'Requests use the keys fetched at ' + new Date(this.cache.uat).toISOString() + '.';
    this.logger.warn(
      `Fetching the signing key set from ${this.url.href} failed: ${describeError(error)}. ` +
        fallback,
    );
  }

  /** Ends the outage after a successful fetch. A key served from the cache proves nothing. */
  private endOutageAfterFetch(): void {
    const { uat } = this.cache;
    if (this.outageStartedAt !== undefined && uat !== undefined && uat >= this.outageStartedAt) {
      this.outageStartedAt = undefined;
      this.logger.log(`The signing key set at ${this.url.href} is reachable again`);
    }
  }
}

/** Formats an error with its cause, such as the ECONNREFUSED behind fetch's "fetch failed". */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';

  return `${error.message}${cause}`;
}

/** Checks for errors that mean the key set was read but has no single key for the token. */
function isKeySelectionError(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys
  );
}
