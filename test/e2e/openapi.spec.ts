import { randomUUID } from 'node:crypto';

import { createTestIssuer, type TestIssuer } from '../auth/token-factory.js';
import {
  buildService,
  type CompiledBuild,
  type ServiceProcess,
  startServiceProcess,
} from '../support/compiled-service.js';
import { sendRequest } from '../support/http-client.js';
import {
  clearTenants,
  COLLECTION,
  startTestApp,
  TEST_DATABASE_URL,
  type TestApp,
} from '../support/test-app.js';

const TENANT = randomUUID();
const SET_PATH = '/deviceManagement/userExperienceAnalyticsDeviceScores';
const ERROR_SCHEMA = 'microsoft.graph.ODataErrors.ODataError';
const ENTITY_SCHEMA = 'microsoft.graph.userExperienceAnalyticsDeviceScores';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

type Operation = {
  operationId: string;
  parameters?: Array<{ name: string; in: string }>;
  security?: Array<Record<string, string[]>>;
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};

function operationsOf(document: any): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap(
    ([path, item]) =>
      Object.entries(item)
        .filter(([method]) => HTTP_METHODS.includes(method))
        .map(([method, op]) => ({ method, path, op })),
  );
}

/** Collects every `$ref` value anywhere in the document. */
function collectRefs(value: unknown, refs: string[] = []): string[] {
  if (Array.isArray(value)) {
    value.forEach((item) => collectRefs(item, refs));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') {
        refs.push(child);
      } else {
        collectRefs(child, refs);
      }
    }
  }

  return refs;
}

describe('OpenAPI document', () => {
  let service: TestApp;
  let document: any;

  beforeAll(async () => {
    service = await startTestApp();
    const response = await service.request({ method: 'GET', url: '/openapi.json', token: null });
    expect(response.statusCode).toBe(200);
    document = response.json();
  });

  afterAll(async () => {
    await clearTenants(TENANT);
    await service.close();
  });

  test('is OpenAPI 3 JSON served without a token', async () => {
    const response = await service.request({ method: 'GET', url: '/openapi.json', token: null });

    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.title).toBe('Endpoint Analytics device scores');
  });

  test('describes the operations under every surface', () => {
    for (const prefix of ['/beta', '/v1.0', '']) {
      const collection = document.paths[`${prefix}${SET_PATH}`];
      const entity = document.paths[`${prefix}${SET_PATH}/{id}`];
      const count = document.paths[`${prefix}${SET_PATH}/$count`];

      expect(Object.keys(collection).sort()).toEqual(['get', 'post']);
      expect(Object.keys(entity).sort()).toEqual(['delete', 'get', 'patch']);
      expect(Object.keys(count)).toEqual(['get']);
      expect(document.paths[`${prefix}/$batch`].post).toBeDefined();
    }
  });

  test('gives every operation a unique id', () => {
    const ids = operationsOf(document).map(({ op }) => op.operationId);

    expect(ids.every((id) => typeof id === 'string' && /^[\w.-]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('lists the query options of the collection', () => {
    const list: Operation = document.paths[`/beta${SET_PATH}`].get;
    const names = (list.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);

    expect(names.sort()).toEqual(
      ['$count', '$filter', '$orderby', '$search', '$select', '$skip', '$skiptoken', '$top'].sort(),
    );
  });

  test('declares the bearer scheme on protected operations only', () => {
    expect(document.components.securitySchemes.bearer).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
    );
    for (const { method, path, op } of operationsOf(document)) {
      const isPublic = /^\/(health|metrics|(beta\/|v1\.0\/)?\$metadata)/.test(path);

      expect({ operation: `${method} ${path}`, security: op.security }).toEqual({
        operation: `${method} ${path}`,
        security: isPublic ? undefined : [{ bearer: [] }],
      });
    }
  });

  test('describes error responses with the Graph error body', () => {
    const errorRef = `#/components/schemas/${ERROR_SCHEMA}`;
    for (const { method, path, op } of operationsOf(document).filter(({ path }) =>
      path.includes(SET_PATH),
    )) {
      for (const status of ['400', '401', '403', '429', '503']) {
        expect({
          operation: `${method} ${path}`,
          status,
          ref: op.responses[status]?.content?.['application/json']?.schema?.$ref,
        }).toEqual({ operation: `${method} ${path}`, status, ref: errorRef });
      }
    }
  });

  test('resolves every schema reference', () => {
    const refs = collectRefs(document);
    const missing = refs.filter((ref) => {
      const name = ref.replace('#/components/schemas/', '');
      return !ref.startsWith('#/components/schemas/') || !(name in document.components.schemas);
    });

    expect(refs.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  test('error schema matches a real error body', async () => {
    const response = await service.request({
      method: 'GET',
      url: `${COLLECTION}/${randomUUID()}`,
      token: await service.token(undefined, TENANT),
    });
    const schema = document.components.schemas[ERROR_SCHEMA];
    const body = response.json();

    expect(response.statusCode).toBe(404);
    expect(Object.keys(body)).toEqual(Object.keys(schema.properties));
    expect(Object.keys(body.error).sort()).toEqual(
      Object.keys(schema.properties.error.properties).sort(),
    );
    expect(schema.properties.error.properties.code.enum).toContain(body.error.code);
    expect(Object.keys(body.error.innerError).sort()).toEqual(
      Object.keys(schema.properties.error.properties.innerError.properties).sort(),
    );
  });

  test('entity schema matches a created entity', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      token: await service.token(undefined, TENANT),
      payload: { deviceName: 'docs-check', endpointAnalyticsScore: 42.5 },
    });
    const schema = document.components.schemas[ENTITY_SCHEMA];
    const { '@odata.context': _context, ...entity } = response.json();

    expect(response.statusCode).toBe(201);
    expect(Object.keys(entity).sort()).toEqual(Object.keys(schema.properties).sort());
    expect(schema.properties.healthStatus.$ref).toBe(
      '#/components/schemas/microsoft.graph.userExperienceAnalyticsHealthState',
    );
  });

  test('create and update take the input schema as body', () => {
    const inputRef =
      '#/components/schemas/microsoft.graph.userExperienceAnalyticsDeviceScoresInput';

    for (const prefix of ['/beta', '/v1.0', '']) {
      const create = document.paths[`${prefix}${SET_PATH}`].post;
      const update = document.paths[`${prefix}${SET_PATH}/{id}`].patch;

      expect(create.requestBody.content['application/json'].schema.$ref).toBe(inputRef);
      expect(update.requestBody.content['application/json'].schema.$ref).toBe(inputRef);
    }
  });
});

/**
 * Swagger UI needs @fastify/static, which Jest on Node 20 cannot load (see setupApiDocs), so the
 * page is checked on the compiled service running in plain Node.js.
 */
describe('API documentation page', () => {
  let build: CompiledBuild;
  let issuer: TestIssuer;
  let running: ServiceProcess;

  beforeAll(async () => {
    build = await buildService();
    issuer = await createTestIssuer();
    running = await startServiceProcess(build.mainPath, {
      NODE_ENV: 'test',
      DATABASE_URL: TEST_DATABASE_URL,
      AUTH_JWKS_FILE: issuer.jwksPath,
      LOG_LEVEL: 'warn',
    });
  }, 180_000);

  afterAll(async () => {
    running?.kill();
    await running?.exited;
    await issuer?.cleanup();
    await build?.remove();
  });

  function get(url: string) {
    return sendRequest(running.origin, { method: 'GET', url });
  }

  test('serves the page without a token', async () => {
    const response = await get('/docs');

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('<div id="swagger-ui"></div>');
  });

  test('loads every script and stylesheet from this service', async () => {
    const page = (await get('/docs')).body;
    const assets = [...page.matchAll(/<(?:script|link)[^>]*(?:src|href)=["']([^"']+)["']/g)].map(
      (match) => match[1],
    );

    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      const url = new URL(asset, `${running.origin}/docs`);
      const response = await get(url.pathname);

      expect({ asset, origin: url.origin, status: response.statusCode }).toEqual({
        asset,
        origin: running.origin,
        status: 200,
      });
    }
  });

  test('has no inline script, so the default CSP allows it', async () => {
    const response = await get('/docs');
    const scripts = [...response.body.matchAll(/<script([^>]*)>/g)].map((match) => match[1]);

    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    // Over plain HTTP, an upgrade to HTTPS would make the browser fetch the scripts in vain.
    expect(response.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.every((attributes) => /\bsrc=/.test(attributes))).toBe(true);
  });

  test('initialises Swagger UI with the document and no external validator', async () => {
    const script = await get('/docs/swagger-ui-init.js');

    expect(script.statusCode).toBe(200);
    expect(script.body).toContain('"validatorUrl": null');
    expect(script.body).toContain(ENTITY_SCHEMA);
    expect(script.body).not.toMatch(
      /https?:\/\/(?!127\.0\.0\.1|localhost)[\w.-]+\.\w+\/[\w/]*\.js/,
    );
  });

  test('serves the same document as /openapi.json', async () => {
    const response = await get('/openapi.json');

    expect(response.statusCode).toBe(200);
    expect(response.json().paths[`/beta${SET_PATH}`]).toBeDefined();
  });
});
