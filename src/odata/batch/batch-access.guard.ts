import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { assertPermitted, READ_PERMISSIONS } from '../../auth/permissions.js';
import { TokenVerifier } from '../../auth/token-verifier.js';

/**
 * Admits a batch whose token is valid (else 401) and contains any permission of this API (else
 * 403). Unlike the global guard, it does not count the batch against the rate limits, because
 * every inner request passes the global guard and is counted with its own method.
 */
@Injectable()
export class BatchAccessGuard implements CanActivate {
  constructor(@Inject(TokenVerifier) private readonly verifier: TokenVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = await this.verifier.verify(request.headers.authorization);
    assertPermitted(principal, READ_PERMISSIONS);
    request.principal = principal;

    return true;
  }
}
