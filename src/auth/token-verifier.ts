import { Logger } from '@nestjs/common';
import {
  createLocalJWKSet,
  errors,
  jwtVerify,
  type CryptoKey,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTPayload,
} from 'jose';

import { invalidToken, keySetUnavailable } from './auth-errors.js';
import { extractBearerToken } from './bearer-token.js';
import type { KeySource } from './key-source.js';
import type { Principal } from './principal.js';
import { KeySetUnavailableError, RemoteKeySet } from './remote-key-set.js';
import { GUID_PATTERN, readPrincipal } from './token-claims.js';
import { GraphException } from '../odata/http/graph-error.js';

/** Asymmetric JWS algorithms. `none` and the HMAC family (HS*) are never accepted. */
export const ACCEPTED_ALGORITHMS: readonly string[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

export interface TokenVerifierOptions {
  /** The `aud` every token must carry (AUTH_AUDIENCE). */
  readonly audience: string;
  /** '*' or the tenant GUIDs whose tokens are accepted (AUTH_ALLOWED_TENANTS), any case. */
  readonly allowedTenants: '*' | ReadonlySet<string>;
  /** Allowed clock skew for `exp` and `nbf`, in seconds. */
  readonly clockToleranceSeconds: number;
  readonly keys: KeySource;
}

type KeyLookup = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/**
 * Verifies Microsoft identity platform access tokens (v1 and v2) and returns their principal.
 *
 * The signing key is looked up only in the configured key set, by the `kid` header. The `jku`,
 * `x5u`, `jwk` and `x5c` headers are never read, so a token cannot name its own key.
 */
export class TokenVerifier {
  private readonly logger = new Logger(TokenVerifier.name);
  private readonly lookupKey: KeyLookup;
  private readonly allowedTenants: '*' | ReadonlySet<string>;

  constructor(private readonly options: TokenVerifierOptions) {
    if (!Number.isFinite(options.clockToleranceSeconds) || options.clockToleranceSeconds < 0) {
      throw new RangeError('clockToleranceSeconds must be a non-negative number of seconds');
    }
    this.allowedTenants = normalizeTenants(options.allowedTenants);
    this.lookupKey =
      options.keys.kind === 'local'
        ? createLocalJWKSet(options.keys.jwks)
        : new RemoteKeySet(options.keys).resolve;
  }

  /**
   * Verifies the token in an Authorization header value.
   *
   * @throws GraphException 401 (InvalidAuthenticationToken) when the token is missing or rejected,
   *   503 (ServiceUnavailable) when a remote key set cannot be fetched.
   */
  async verify(authorizationHeader: string | undefined): Promise<Principal> {
    const token = extractBearerToken(authorizationHeader);
    const claims = await this.verifySignedClaims(token);

    return readPrincipal(claims, this.allowedTenants);
  }

  /** Checks the signature, `exp`, `nbf` and `aud`, and that `iss` and `tid` are present. */
  private async verifySignedClaims(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.lookupKeyByKid, {
        algorithms: [...ACCEPTED_ALGORITHMS],
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ['exp', 'iss', 'tid'],
      });
      assertBoundedLifetime(payload);

      return payload;
    } catch (error) {
      throw this.toGraphException(error);
    }
  }

  private readonly lookupKeyByKid: KeyLookup = (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '') {
      throw invalidToken(
        'The access token header has no "kid", so its signing key cannot be found.',
      );
    }

    return this.lookupKey(header, token);
  };

  private toGraphException(error: unknown): GraphException {
    if (error instanceof GraphException) {
      return error;
    }
    if (error instanceof KeySetUnavailableError) {
      return keySetUnavailable(error.retryAfterSeconds);
    }

    const message = describeRejection(error, this.options.audience);
    if (message === undefined) {
      // Not a jose rejection, so the cause is on our side (for example a trusted RSA key under
      // 2048 bits). The client still gets a 401 because the token could not be verified.
      this.logger.error(`Access token verification failed unexpectedly: ${String(error)}`);

      return invalidToken('The access token could not be verified.');
    }
    this.logger.debug(`Access token rejected: ${message}`);

    return invalidToken(message);
  }
}

/** Maps a jose error to a 401 message that names the failed check, or undefined for other errors. */
function describeRejection(error: unknown, audience: string): string | undefined {
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return (
      'The access token is unsigned or signed with an algorithm that is not accepted. ' +
      `Accepted algorithms: ${ACCEPTED_ALGORITHMS.join(', ')}.`
    );
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return 'The access token is signed with a key that is not trusted: its "kid" is unknown.';
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'More than one trusted key matches the "kid" of the access token.';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return 'The access token signature is invalid.';
  }
  if (error instanceof errors.JWTExpired) {
    return describeExpiry(error.payload);
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return describeClaimFailure(error, audience);
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return 'The access token is malformed. It must be a signed JWT in compact form.';
  }
  if (error instanceof errors.JOSENotSupported) {
    return 'The access token uses a JOSE feature that is not supported, such as an unknown "crit".';
  }
  if (error instanceof errors.JOSEError) {
    return 'The access token is invalid.';
  }

  return undefined;
}

function describeExpiry(claims: JWTPayload): string {
  return typeof claims.exp === 'number'
    ? `The access token expired at ${formatNumericDate(claims.exp)}. Get a new token.`
    : 'The access token has expired. Get a new token.';
}

function describeClaimFailure(
  error: InstanceType<typeof errors.JWTClaimValidationFailed>,
  audience: string,
): string {
  if (error.reason === 'missing') {
    return `The access token has no "${error.claim}" claim.`;
  }
  if (error.reason === 'invalid') {
    return `The "${error.claim}" claim of the access token must be a number (seconds since 1970).`;
  }

  switch (error.claim) {
    case 'nbf':
      return typeof error.payload.nbf === 'number'
        ? `The access token is not valid before ${formatNumericDate(error.payload.nbf)}.`
        : 'The access token is not valid yet.';
    case 'aud':
      return `The audience ("aud") of the access token must be '${audience}'.`;
    default:
      return `The "${error.claim}" claim of the access token is invalid.`;
  }
}

/** Formats a JWT NumericDate, or returns a placeholder when it is outside the Date range. */
function formatNumericDate(seconds: number): string {
  const date = new Date(seconds * 1000);

  return Number.isNaN(date.getTime()) ? 'an invalid time' : date.toISOString();
}

function normalizeTenants(tenants: '*' | ReadonlySet<string>): '*' | ReadonlySet<string> {
  if (tenants === '*') {
    return tenants;
  }
  for (const tenant of tenants) {
    if (!GUID_PATTERN.test(tenant)) {
      throw new RangeError(`allowedTenants must contain tenant GUIDs, got '${tenant}'`);
    }
  }

  return new Set([...tenants].map((tenant) => tenant.toLowerCase()));
}

/**
 * Identity-platform access tokens live 60 to 90 minutes. A token valid for more than a day was
 * not issued by it, so it is rejected even when its signature verifies.
 */
const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

function assertBoundedLifetime(payload: JWTPayload): void {
  const now = Math.floor(Date.now() / 1000);
  const issuedAt = payload.iat ?? payload.nbf ?? now;
  if (typeof payload.exp === 'number' && payload.exp - issuedAt > MAX_TOKEN_LIFETIME_SECONDS) {
    throw invalidToken('The access token is valid for more than 24 hours. Request a new token.');
  }
}
