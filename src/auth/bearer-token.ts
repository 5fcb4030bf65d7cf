import { invalidToken } from './auth-errors.js';

/**
 * Extracts the access token from an `Authorization: Bearer <token>` header value.
 * The scheme is case-insensitive (RFC 9110). Anything other than exactly one token is a 401.
 */
export function extractBearerToken(authorizationHeader: string | undefined): string {
  if (authorizationHeader === undefined || authorizationHeader.trim() === '') {
    throw invalidToken(
      'The Authorization header is missing. Send an access token as "Authorization: Bearer <token>".',
    );
  }

  const parts = authorizationHeader.trim().split(/\s+/);
  if (parts[0].toLowerCase() !== 'bearer') {
    throw invalidToken(
      'The Authorization header must use the Bearer scheme: "Authorization: Bearer <token>".',
    );
  }
  if (parts.length === 1) {
    throw invalidToken('The Authorization header contains the Bearer scheme but no access token.');
  }
  if (parts.length > 2) {
    throw invalidToken('The Authorization header must contain exactly one access token.');
  }

  return parts[1];
}
