import 'reflect-metadata';

import { jest } from '@jest/globals';
import {
  Catch,
  Controller,
  Delete,
  Get,
  Logger,
  Module,
  Post,
  Req,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { AuthGuard } from '../../src/auth/auth.guard.js';
import { readJwksFile } from '../../src/auth/key-source.js';
import {
  Public,
  READ_PERMISSIONS,
  RequirePermissions,
  WRITE_PERMISSIONS,
} from '../../src/auth/permissions.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { GraphException } from '../../src/odata/http/graph-error.js';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { ThrottlePolicy } from '../../src/rate-limit/throttle-policy.js';
import {
  createTestIssuer,
  OTHER_APP_ID,
  READ_ALL,
  READ_WRITE_ALL,
  T1,
  T2,
  TEST_AUDIENCE,
  type TestIssuer,
} from './token-factory.js';

const REQUEST_LIMIT = 5;
const WRITE_LIMIT = 2;

/** Sends a GraphException as status, headers and body, and any other error as a bare 500. */
@Catch()
class GraphExceptionTestFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (exception instanceof GraphException) {
      void reply
        .status(exception.status)
        .headers(exception.headers)
        .send({ error: { code: exception.code, message: exception.message } });

      return;
    }
    void reply.status(500).send({ error: { code: 'InternalServerError' } });
  }
}

@Controller('scores')
class ScoresController {
  @Get()
  @RequirePermissions(...READ_PERMISSIONS)
  list(@Req() request: FastifyRequest): object {
    return {
      tenantId: request.principal?.tenantId,
      applicationId: request.principal?.applicationId,
    };
  }

  @Post()
  @RequirePermissions(...WRITE_PERMISSIONS)
  create(): object {
    return { created: true };
  }

  @Delete()
  @RequirePermissions(...WRITE_PERMISSIONS)
  remove(): object {
    return { removed: true };
  }

  @Get('forgotten')
  forgotten(): object {
    return { reached: true };
  }
}

@Controller('health')
@Public()
class HealthController {
  @Get()
  health(): object {
    return { status: 'ok' };
  }

  @Get('details')
  @RequirePermissions(...READ_PERMISSIONS)
  details(): object {
    return { status: 'ok', details: true };
  }
}

let issuer: TestIssuer;
let app: NestFastifyApplication;

async function startApp(): Promise<NestFastifyApplication> {
  const verifier = new TokenVerifier({
    audience: TEST_AUDIENCE,
    allowedTenants: new Set([T1, T2]),
    clockToleranceSeconds: 60,
    keys: { kind: 'local', jwks: await readJwksFile(issuer.jwksPath) },
  });
  const throttle = new ThrottlePolicy(new MemoryRateLimiter(), {
    requests: REQUEST_LIMIT,
    writes: WRITE_LIMIT,
    windowSeconds: 60,
  });

  @Module({
    controllers: [ScoresController, HealthController],
    providers: [
      { provide: TokenVerifier, useValue: verifier },
      { provide: ThrottlePolicy, useValue: throttle },
      { provide: APP_GUARD, useClass: AuthGuard },
      { provide: APP_FILTER, useClass: GraphExceptionTestFilter },
    ],
  })
  class TestModule {}

  const created = await NestFactory.create<NestFastifyApplication>(
    TestModule,
    new FastifyAdapter(),
    { logger: false, abortOnError: false },
  );
  // Requests go over a loopback socket: app.inject needs light-my-request, whose ESM-only
  // cookie dependency jest cannot load on Node 20.
  await created.listen(0, '127.0.0.1');

  return created;
}

async function send(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  authorization?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const response = await fetch(new URL(url, await app.getUrl()), {
    method,
    headers: authorization === undefined ? {} : { authorization },
  });

  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function bearer(claims: Record<string, unknown>): Promise<string> {
  return `Bearer ${await issuer.mint(claims)}`;
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  issuer = await createTestIssuer();
});

beforeEach(async () => {
  app = await startApp();
});

afterEach(async () => {
  await app.close();
});

afterAll(async () => {
  await issuer.cleanup();
});

describe('AuthGuard on a protected route', () => {
  it('returns 401 with a challenge without a token', async () => {
    const response = await send('GET', '/scores');

    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
    expect(response.body).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
  });

  it('returns 401 for an expired token', async () => {
    const expired = await bearer({ scp: READ_ALL, exp: Math.floor(Date.now() / 1000) - 600 });

    const response = await send('GET', '/scores', expired);

    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
  });

  it('stores the principal on the request', async () => {
    const response = await send('GET', '/scores', await bearer({ scp: READ_ALL }));

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ tenantId: T1, applicationId: expect.any(String) });
  });

  it('returns 403 listing write permissions', async () => {
    const response = await send('POST', '/scores', await bearer({ scp: READ_ALL }));

    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ error: { code: 'Forbidden' } });
    expect(String((response.body.error as { message: string }).message)).toContain(
      WRITE_PERMISSIONS[0],
    );
  });

  it('returns 403 for a token with no permission claims', async () => {
    const response = await send('GET', '/scores', await bearer({}));

    expect(response.status).toBe(403);
  });

  it('lets an app-only token with roles write', async () => {
    const response = await send('POST', '/scores', await bearer({ roles: [READ_WRITE_ALL] }));

    expect(response.status).toBe(201);
  });

  it('returns 401, not 500, for roles given as a string', async () => {
    const response = await send('GET', '/scores', await bearer({ roles: READ_ALL }));

    expect(response.status).toBe(401);
  });
});

describe('AuthGuard default deny', () => {
  it('denies an undeclared route with 403', async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const token = await bearer({ scp: READ_WRITE_ALL });

      const first = await send('GET', '/scores/forgotten', token);
      const second = await send('GET', '/scores/forgotten', token);

      expect(first.status).toBe(403);
      expect(second.status).toBe(403);
      expect(first.body).not.toHaveProperty('reached');
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0][0])).toContain('ScoresController.forgotten');
    } finally {
      error.mockRestore();
    }
  });

  it('returns 401 before the undeclared-route 403', async () => {
    const response = await send('GET', '/scores/forgotten');

    expect(response.status).toBe(401);
  });
});

describe('AuthGuard on public routes', () => {
  it('lets a request without a token through', async () => {
    const response = await send('GET', '/health');

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('ignores an invalid token', async () => {
    const response = await send('GET', '/health', 'Bearer not-a-jwt');

    expect(response.status).toBe(200);
  });

  it('lets a handler override its public controller', async () => {
    const response = await send('GET', '/health/details');

    expect(response.status).toBe(401);
  });

  it('leaves public requests unthrottled', async () => {
    for (let index = 0; index < REQUEST_LIMIT * 2; index += 1) {
      expect((await send('GET', '/health')).status).toBe(200);
    }
  });
});

describe('AuthGuard rate limits', () => {
  it('returns 429 with Retry-After past the request limit', async () => {
    const token = await bearer({ scp: READ_ALL });
    const statuses: number[] = [];
    let lastRetryAfter: unknown;

    for (let index = 0; index < REQUEST_LIMIT + 2; index += 1) {
      const response = await send('GET', '/scores', token);
      statuses.push(response.status);
      lastRetryAfter = response.headers['retry-after'];
    }

    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(String(lastRetryAfter)).toMatch(/^[1-9]\d*$/);
  });

  it('returns 429 past the write limit', async () => {
    const token = await bearer({ scp: READ_WRITE_ALL });

    const writes = [
      await send('POST', '/scores', token),
      await send('DELETE', '/scores', token),
      await send('POST', '/scores', token),
    ];
    const read = await send('GET', '/scores', token);

    expect(writes.map((response) => response.status)).toEqual([201, 200, 429]);
    expect(writes[2].body).toMatchObject({ error: { code: 'TooManyRequests' } });
    expect(read.status).toBe(200);
  });

  it('keeps other applications and tenants apart', async () => {
    const token = await bearer({ scp: READ_ALL });
    for (let index = 0; index < REQUEST_LIMIT; index += 1) {
      await send('GET', '/scores', token);
    }

    const sameApp = await send('GET', '/scores', token);
    const otherApp = await send(
      'GET',
      '/scores',
      await bearer({ scp: READ_ALL, azp: OTHER_APP_ID }),
    );
    const otherTenant = await send('GET', '/scores', await bearer({ scp: READ_ALL, tid: T2 }));

    expect(sameApp.status).toBe(429);
    expect(otherApp.status).toBe(200);
    expect(otherTenant.status).toBe(200);
  });

  it('does not count rejected tokens', async () => {
    for (let index = 0; index < REQUEST_LIMIT * 2; index += 1) {
      expect((await send('GET', '/scores', await bearer({}))).status).toBe(403);
    }

    const response = await send('GET', '/scores', await bearer({ scp: READ_ALL }));

    expect(response.status).toBe(200);
  });
});
