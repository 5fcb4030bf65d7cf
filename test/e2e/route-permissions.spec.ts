import { randomUUID } from 'node:crypto';

import { Controller, Get, RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';

import {
  Public,
  PublicRoute,
  READ_PERMISSIONS,
  RequirePermissions,
  RequiredPermissions,
  WRITE_PERMISSIONS,
} from '../../src/auth/permissions.js';
import type { HttpResponse } from '../support/http-client.js';
import { queryDatabase, startTestApp, type TestApp } from '../support/test-app.js';

/** Access declaration of a route, read from its handler and then its controller. */
type Declaration =
  { kind: 'public' } | { kind: 'protected'; accepted: readonly string[] } | { kind: 'undeclared' };

/** One method on one path, as Nest registered it from a controller handler. */
interface NestRoute {
  method: string;
  path: string;
  handler: string;
  declaration: Declaration;
  guarded: boolean;
}

/**
 * Routes that are meant to be reachable without the global guard, with the status a request
 * without a token gets. Adding a public route means adding it here, so that it is reviewed.
 */
const PUBLIC_ROUTES: Record<string, number> = {
  'GET /health/live': 200,
  'GET /health/ready': 200,
  'GET /$metadata': 200,
  'GET /beta/$metadata': 200,
  'GET /v1.0/$metadata': 200,
  // Prometheus scrapers carry no token. The labels are method, route pattern and status code,
  // so no tenant or application id is exposed.
  'GET /metrics': 200,
  // The dashboard page and its assets are static; the page asks for a token before it calls
  // the API, and the API routes keep their own permissions.
  'GET /dashboard': 200,
  'GET /dashboard/dashboard.js': 200,
  'GET /dashboard/dashboard.css': 200,
  // The batch is exempt from the global guard only to avoid counting it as a write. Its own
  // guard still requires a token, and each inner request passes the global guard.
  'POST /$batch': 401,
  'POST /beta/$batch': 401,
  'POST /v1.0/$batch': 401,
};

/**
 * Routes registered on Fastify directly, outside every Nest guard, as `METHOD path` patterns.
 * Adding one means adding it here, so that it is reviewed.
 */
const FASTIFY_ONLY_ROUTES: readonly RegExp[] = [
  // The OpenAPI document that @nestjs/swagger serves: the API description, no tenant data.
  /^(GET|HEAD) \/openapi\.json$/,
];

/** Every permission the API defines, to find ones a route must not accept. */
const ALL_PERMISSIONS = [...new Set([...READ_PERMISSIONS, ...WRITE_PERMISSIONS])];

const TENANT = randomUUID();

/** A controller that is never registered, to prove that the declaration reader tells cases apart. */
@Controller('probe')
@RequirePermissions(READ_PERMISSIONS[0])
class ProbeController {
  @Get('public')
  @Public()
  open(): void {}

  @Get('inherited')
  inherited(): void {}
}

@Controller('bare')
class BareController {
  @Get()
  bare(): void {}
}

function joinPath(...parts: string[]): string {
  const joined = parts
    .flatMap((part) => part.split('/'))
    .filter((segment) => segment !== '')
    .join('/');

  return `/${joined}`;
}

function asArray(value: string | string[] | undefined): string[] {
  if (value === undefined) {
    return ['/'];
  }

  return Array.isArray(value) ? value : [value];
}

/** Lists every handler of every controller the application registered, with its routes. */
function discoverNestRoutes(service: TestApp): NestRoute[] {
  const discovery = new DiscoveryService(service.app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const reflector = new Reflector();
  const routes: NestRoute[] = [];

  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
    if (controller === null || controller === undefined) {
      continue;
    }
    const prototype = controller.prototype as Record<string, unknown>;
    const controllerPaths = asArray(Reflect.getMetadata(PATH_METADATA, controller));

    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name] as object;
      const requestMethod = Reflect.getMetadata(METHOD_METADATA, handler) as
        RequestMethod | undefined;
      if (requestMethod === undefined) {
        continue;
      }
      const declaration = readDeclaration(reflector, handler, controller);
      const guards = [
        ...((Reflect.getMetadata(GUARDS_METADATA, handler) as unknown[] | undefined) ?? []),
        ...((Reflect.getMetadata(GUARDS_METADATA, controller) as unknown[] | undefined) ?? []),
      ];
      for (const controllerPath of controllerPaths) {
        for (const handlerPath of asArray(Reflect.getMetadata(PATH_METADATA, handler))) {
          routes.push({
            method: RequestMethod[requestMethod],
            path: joinPath(controllerPath, handlerPath),
            handler: `${controller.name}.${name}`,
            declaration,
            guarded: guards.length > 0,
          });
        }
      }
    }
  }

  return routes;
}

/** Reads the declaration the way the global guard does: the handler first, then its class. */
function readDeclaration(reflector: Reflector, handler: object, controller: object): Declaration {
  for (const target of [handler, controller]) {
    const accepted = reflector.get(RequiredPermissions, target as never);
    if (accepted !== undefined) {
      return { kind: 'protected', accepted };
    }
    if (reflector.get(PublicRoute, target as never) === true) {
      return { kind: 'public' };
    }
  }

  return { kind: 'undeclared' };
}

/**
 * Parses Fastify's route tree (`printRoutes({ commonPrefix: false })`) into `METHOD path` keys.
 * Each level of the tree is indented by four characters, and a node's text continues the path
 * of its parent.
 */
function parseFastifyRoutes(tree: string): Set<string> {
  const routes = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const branchAt = line.search(/[├└]── /);
    if (branchAt === -1) {
      continue;
    }
    const depth = branchAt / 4;
    const match = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(branchAt + 4)) as RegExpExecArray;
    stack.length = depth;
    stack.push(match[1]);
    for (const method of (match[2] ?? '').split(',').map((name) => name.trim())) {
      if (method !== '') {
        routes.add(`${method} ${stack.join('')}`);
      }
    }
  }

  return routes;
}

function urlOf(path: string): string {
  return path.replace(/:[A-Za-z]+/g, randomUUID());
}

function expectEnvelope(response: HttpResponse, status: number, code: string): void {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.json().error.code).toBe(code);
}

describe('route permissions', () => {
  let service: TestApp;
  let nestRoutes: NestRoute[];

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '100000', THROTTLE_WRITES: '100000' });
    nestRoutes = discoverNestRoutes(service);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [TENANT]);
    await service.close();
  });

  function requestAs(route: NestRoute, token: string | null, method = route.method) {
    const hasBody = method === 'POST' || method === 'PATCH';

    return service.request({
      method,
      url: urlOf(route.path),
      token,
      ...(hasBody ? { payload: {} } : {}),
    });
  }

  function protectedRoutes(): Array<NestRoute & { accepted: readonly string[] }> {
    return nestRoutes.flatMap((route) =>
      route.declaration.kind === 'protected'
        ? [{ ...route, accepted: route.declaration.accepted }]
        : [],
    );
  }

  test('discovery finds the device scores routes', () => {
    const keys = nestRoutes.map((route) => `${route.method} ${route.path}`);

    expect(keys).toEqual(
      expect.arrayContaining([
        'GET /beta/deviceManagement/userExperienceAnalyticsDeviceScores',
        'POST /v1.0/deviceManagement/userExperienceAnalyticsDeviceScores',
        'PATCH /deviceManagement/userExperienceAnalyticsDeviceScores/:id',
        'DELETE /beta/deviceManagement/userExperienceAnalyticsDeviceScores/:id',
        'GET /beta/deviceManagement/userExperienceAnalyticsDeviceScores/$count',
      ]),
    );
  });

  test('declaration reader tells the cases apart', () => {
    const reflector = new Reflector();
    const probe = ProbeController.prototype;

    expect(readDeclaration(reflector, probe.open, ProbeController)).toEqual({ kind: 'public' });
    expect(readDeclaration(reflector, probe.inherited, ProbeController)).toEqual({
      kind: 'protected',
      accepted: [READ_PERMISSIONS[0]],
    });
    expect(readDeclaration(reflector, BareController.prototype.bare, BareController)).toEqual({
      kind: 'undeclared',
    });
  });

  test('every handler declares permissions or public', () => {
    const undeclared = nestRoutes
      .filter((route) => route.declaration.kind === 'undeclared')
      .map((route) => `${route.handler} (${route.method} ${route.path})`);

    expect(undeclared).toEqual([]);
  });

  test('every public route is on the reviewed list', () => {
    const publicRoutes = nestRoutes
      .filter((route) => route.declaration.kind === 'public')
      .map((route) => `${route.method} ${route.path}`);

    expect(publicRoutes.filter((key) => !(key in PUBLIC_ROUTES))).toEqual([]);
  });

  test('every Fastify route belongs to a Nest handler', () => {
    const fastify = service.app.getHttpAdapter().getInstance();
    const registered = parseFastifyRoutes(fastify.printRoutes({ commonPrefix: false }));
    const declared = new Set(nestRoutes.map((route) => `${route.method} ${route.path}`));

    // Fastify adds a HEAD route for every GET route, which runs the GET handler.
    const unexpected = [...registered].filter(
      (key) =>
        !declared.has(key) &&
        !declared.has(key.replace(/^HEAD /, 'GET ')) &&
        !FASTIFY_ONLY_ROUTES.some((pattern) => pattern.test(key)),
    );
    expect(registered.size).toBeGreaterThan(0);
    expect(unexpected).toEqual([]);
    for (const route of nestRoutes) {
      const found = fastify.hasRoute({ method: route.method, url: route.path });
      expect({ route: `${route.method} ${route.path}`, found }).toEqual({
        route: `${route.method} ${route.path}`,
        found: true,
      });
    }
  });

  test('Fastify-only routes respond without a token', async () => {
    const fastify = service.app.getHttpAdapter().getInstance();
    const registered = parseFastifyRoutes(fastify.printRoutes({ commonPrefix: false }));
    const fastifyOnly = [...registered].filter(
      (key) => key.startsWith('GET ') && FASTIFY_ONLY_ROUTES.some((pattern) => pattern.test(key)),
    );

    for (const key of fastifyOnly) {
      const response = await service.request({ method: 'GET', url: key.slice(4), token: null });

      expect({ route: key, status: response.statusCode }).toEqual({ route: key, status: 200 });
    }
  });

  test('read and write routes accept the documented permissions', () => {
    for (const route of protectedRoutes()) {
      const expected = route.method === 'GET' ? READ_PERMISSIONS : WRITE_PERMISSIONS;

      expect({
        route: `${route.method} ${route.path}`,
        accepted: [...route.accepted].sort(),
      }).toEqual({ route: `${route.method} ${route.path}`, accepted: [...expected].sort() });
    }
  });

  test('protected routes without a token are 401', async () => {
    const routes = protectedRoutes();
    expect(routes.length).toBeGreaterThan(0);

    for (const route of routes) {
      const response = await requestAs(route, null);

      expect({ route: `${route.method} ${route.path}`, status: response.statusCode }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 401,
      });
      expectEnvelope(response, 401, 'InvalidAuthenticationToken');
      expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
    }
  });

  test('HEAD on protected GET routes without a token is 401', async () => {
    for (const route of protectedRoutes().filter((candidate) => candidate.method === 'GET')) {
      const response = await requestAs(route, null, 'HEAD');

      expect({ route: `HEAD ${route.path}`, status: response.statusCode }).toEqual({
        route: `HEAD ${route.path}`,
        status: 401,
      });
      expect(response.body).toBe('');
    }
  });

  test('protected routes with an unrelated permission are 403', async () => {
    const token = await service.token('User.Read openid profile', TENANT);

    for (const route of protectedRoutes()) {
      const response = await requestAs(route, token);

      expect({ route: `${route.method} ${route.path}`, status: response.statusCode }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 403,
      });
      expectEnvelope(response, 403, 'Forbidden');
      for (const permission of route.accepted) {
        expect(response.json().error.message).toContain(permission);
      }
    }
  });

  test('protected routes reject every permission they do not accept', async () => {
    for (const route of protectedRoutes()) {
      for (const permission of ALL_PERMISSIONS.filter((name) => !route.accepted.includes(name))) {
        const delegated = await service.token(permission, TENANT);
        const application = await service.issuer.mint({ tid: TENANT, roles: [permission] });

        for (const token of [delegated, application]) {
          const response = await requestAs(route, token);

          expect({
            route: `${route.method} ${route.path}`,
            permission,
            status: response.statusCode,
          }).toEqual({ route: `${route.method} ${route.path}`, permission, status: 403 });
        }
      }
    }
  });

  test('protected routes admit every permission they accept', async () => {
    for (const route of protectedRoutes()) {
      for (const permission of route.accepted) {
        const response = await requestAs(route, await service.token(permission, TENANT));

        expect([401, 403, 500]).not.toContain(response.statusCode);
      }
    }
  });

  test('public routes respond as reviewed without a token', async () => {
    for (const route of nestRoutes.filter((candidate) => candidate.declaration.kind === 'public')) {
      const key = `${route.method} ${route.path}`;
      const response = await requestAs(route, null);

      expect({ route: key, status: response.statusCode }).toEqual({
        route: key,
        status: PUBLIC_ROUTES[key],
      });
      if (PUBLIC_ROUTES[key] === 401) {
        expect(route.guarded).toBe(true);
        expectEnvelope(response, 401, 'InvalidAuthenticationToken');
      }
    }
  });

  test('guarded public routes reject a token without permission', async () => {
    const token = await service.token('User.Read', TENANT);
    const guardedPublic = nestRoutes.filter(
      (route) =>
        route.declaration.kind === 'public' &&
        PUBLIC_ROUTES[`${route.method} ${route.path}`] === 401,
    );

    for (const route of guardedPublic) {
      const response = await requestAs(route, token);

      expect({ route: `${route.method} ${route.path}`, status: response.statusCode }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 403,
      });
    }
  });
});
