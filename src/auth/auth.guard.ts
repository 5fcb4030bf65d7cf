import {
  Inject,
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';

import { missingPermission } from './auth-errors.js';
import { assertPermitted, PublicRoute, RequiredPermissions } from './permissions.js';
import { TokenVerifier } from './token-verifier.js';
import { ThrottlePolicy } from '../rate-limit/throttle-policy.js';

/** Access declaration of a route: public, the permissions it accepts, or none. */
type RouteAccess =
  { kind: 'public' } | { kind: 'protected'; accepted: readonly string[] } | { kind: 'undeclared' };

/**
 * The global guard. Denies by default: a route must declare `@Public()` or
 * `@RequirePermissions(...)`. For a protected route it verifies the access token (401), checks the
 * permissions (403), counts the request against the rate limits (429) and stores the principal as
 * `request.principal`. It reports every failure by throwing a GraphException and never returns
 * false, because Nest would turn false into a 403 and lose a 401.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger(AuthGuard.name);
  private readonly reportedUndeclaredRoutes = new Set<string>();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokenVerifier) private readonly verifier: TokenVerifier,
    @Inject(ThrottlePolicy) private readonly throttle: ThrottlePolicy,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.readRouteAccess(context);
    if (access.kind === 'public') {
      return true;
    }

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = await this.verifier.verify(request.headers.authorization);

    if (access.kind === 'undeclared') {
      this.reportUndeclaredRoute(context);
      throw missingPermission([]);
    }
    assertPermitted(principal, access.accepted);

    await this.throttle.enforce(principal, request.method);
    request.principal = principal;

    return true;
  }

  /** Reads the declaration of the handler, then of its controller, so the handler's wins. */
  private readRouteAccess(context: ExecutionContext): RouteAccess {
    for (const target of [context.getHandler(), context.getClass()]) {
      const accepted = this.reflector.get(RequiredPermissions, target);
      if (accepted !== undefined) {
        return { kind: 'protected', accepted };
      }
      if (this.reflector.get(PublicRoute, target) === true) {
        return { kind: 'public' };
      }
    }

    return { kind: 'undeclared' };
  }

  private reportUndeclaredRoute(context: ExecutionContext): void {
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    if (this.reportedUndeclaredRoutes.has(route)) {
      return;
    }
    this.reportedUndeclaredRoutes.add(route);
    this.logger.error(
      `Route ${route} declares neither @RequirePermissions nor @Public, so every request to it ` +
        'is denied with 403. Add one of the two decorators.',
    );
  }
}
