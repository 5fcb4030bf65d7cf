import type { FastifyRequest } from 'fastify';

import { GraphErrorCode, GraphException } from '../odata/http/graph-error.js';
import type { Principal } from './principal.js';

/**
 * Returns the verified caller of a request. The global guard sets it before any protected handler
 * runs, so a missing principal means a route escaped the guard: that is reported as a 500.
 */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) {
    throw new GraphException(
      GraphErrorCode.InternalServerError,
      'The request reached a protected handler without a verified caller.',
    );
  }
  return request.principal;
}
