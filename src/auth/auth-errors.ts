import { GraphErrorCode, GraphException } from '../odata/http/graph-error.js';

/** The challenge header that every 401 carries. */
export const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer realm=""' } as const;

/** Creates the 401 for a missing, malformed or rejected access token. */
export function invalidToken(message: string): GraphException {
  return new GraphException(GraphErrorCode.InvalidAuthenticationToken, message, BEARER_CHALLENGE);
}

/** Creates the 403 for a valid token that has none of the accepted permissions. */
export function missingPermission(accepted: readonly string[]): GraphException {
  const message =
    accepted.length === 0
      ? 'No permission grants access to this operation.'
      : 'The access token has none of the permissions this operation accepts: ' +
        `${accepted.join(', ')}.`;

  return new GraphException(GraphErrorCode.Forbidden, message);
}

/** Creates the 503 for when the signing keys cannot be fetched, so no token can be checked. */
export function keySetUnavailable(retryAfterSeconds: number): GraphException {
  return new GraphException(
    GraphErrorCode.ServiceUnavailable,
    'The keys that access tokens are signed with could not be fetched from the identity ' +
      'provider. Retry after the number of seconds in Retry-After.',
    { 'Retry-After': String(retryAfterSeconds) },
  );
}
