import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';

import type { RawRequestWithId } from './logging.module.js';

/**
 * Copies the verified tenant and application ids onto the raw request, where the request log
 * line reads them when the response finishes. Runs after the guard, so only verified ids appear.
 */
@Injectable()
export class LogContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const raw = request.raw as RawRequestWithId;
    if (request.principal !== undefined) {
      raw.tenantId = request.principal.tenantId;
      raw.applicationId = request.principal.applicationId;
    }
    return next.handle();
  }
}
