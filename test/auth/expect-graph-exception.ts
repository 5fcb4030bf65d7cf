import { GraphErrorCode, GraphException } from '../../src/odata/http/graph-error.js';

/** Awaits `promise`, asserts that it rejected with a GraphException and returns the exception. */
export async function catchGraphException(promise: Promise<unknown>): Promise<GraphException> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(GraphException);

  return caught as GraphException;
}

/**
 * Asserts a 401 with the Bearer challenge whose message contains `fragment` (if given) and never
 * the token itself.
 */
export async function expectInvalidToken(
  promise: Promise<unknown>,
  fragment?: string | RegExp,
  token?: string,
): Promise<GraphException> {
  const exception = await catchGraphException(promise);
  expect(exception.status).toBe(401);
  expect(exception.code).toBe(GraphErrorCode.InvalidAuthenticationToken);
  expect(exception.headers['WWW-Authenticate']).toBe('Bearer realm=""');
  if (fragment !== undefined) {
    expect(exception.message).toMatch(fragment);
  }
  if (token !== undefined && token !== '') {
    expect(exception.message).not.toContain(token);
    for (const part of token.split('.').filter((segment) => segment.length > 8)) {
      expect(exception.message).not.toContain(part);
    }
  }

  return exception;
}
