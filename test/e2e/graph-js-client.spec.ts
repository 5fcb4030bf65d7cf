import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { checkServerIdentity } from 'node:tls';

import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  GraphError,
  PageIterator,
} from '@microsoft/microsoft-graph-client';

import { READ_WRITE, clearTenants, queryDatabase, type TestApp } from '../support/test-app.js';
import { startHttpsTestApp, type TestCertificate } from '../support/tls.js';

const SET = '/deviceManagement/userExperienceAnalyticsDeviceScores';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * Returns a WHATWG fetch that sends requests with node:https and trusts only `certificate`, and
 * only for 127.0.0.1, so the tests can send no traffic anywhere else.
 *
 * The Graph client calls the global `fetch`, whose trust settings a test cannot change. Node.js
 * reads NODE_EXTRA_CA_CERTS once at start-up. Jest gives each test file a copy of process.env, so
 * NODE_TLS_REJECT_UNAUTHORIZED set there never reaches the TLS layer. `fetchOptions.dispatcher`
 * would need an undici Agent, and the undici package is not installed.
 */
function createTrustingFetch(certificate: string): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'https:' || url.hostname !== '127.0.0.1') {
      throw new TypeError(`The test fetch only reaches https://127.0.0.1, not ${url.origin}.`);
    }
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());

    return new Promise<Response>((resolve, reject) => {
      const outgoing = https.request(
        {
          host: url.hostname,
          port: url.port,
          method: request.method,
          path: `${url.pathname}${url.search}`,
          headers: Object.fromEntries(request.headers),
          ca: certificate,
          checkServerIdentity: (_host, peer) => checkServerIdentity(url.hostname, peer),
          agent: false,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const headers = new Headers();
            for (const [name, value] of Object.entries(response.headers)) {
              for (const item of Array.isArray(value) ? value : [value ?? '']) {
                headers.append(name, item);
              }
            }
            const payload = NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks);
            resolve(new Response(payload, { status, statusText: response.statusMessage, headers }));
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
}

describe('Microsoft Graph JavaScript client', () => {
  const tenant = randomUUID();
  const pagingTenant = randomUUID();
  const originalFetch = globalThis.fetch;
  let certificate: TestCertificate;
  let service: TestApp;
  let origin: string;

  beforeAll(async () => {
    ({ service, certificate, origin } = await startHttpsTestApp());
    globalThis.fetch = createTrustingFetch(certificate.certificate);
  });

  afterAll(async () => {
    globalThis.fetch = originalFetch;
    await clearTenants(tenant, pagingTenant);
    await service.close();
    await certificate.cleanup();
  });

  /**
   * Builds a client with the default middleware chain. The client attaches the token only for
   * Graph's own hosts and for `customHosts`, and only over https.
   */
  function createClient(tenantId = tenant, scopes = READ_WRITE): Client {
    return Client.initWithMiddleware({
      authProvider: { getAccessToken: () => service.token(scopes, tenantId) },
      baseUrl: `${origin}/`,
      defaultVersion: 'beta',
      customHosts: new Set(['127.0.0.1']),
    });
  }

  async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
    try {
      await promise;
    } catch (error) {
      expect(error).toBeInstanceOf(GraphError);
      return error as GraphError;
    }
    throw new Error('The request succeeded, but a GraphError was expected.');
  }

  test('create, get, update, delete', async () => {
    const client = createClient();

    const created = await client.api(SET).post({
      '@odata.type': '#microsoft.graph.userExperienceAnalyticsDeviceScores',
      deviceName: 'js-crud',
      endpointAnalyticsScore: 7.333333333333333,
      healthStatus: 'insufficientData',
    });
    expect(created.id).toMatch(GUID);
    expect(created['@odata.context']).toBe(
      `${origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores/$entity`,
    );
    const path = `${SET}/${created.id}`;

    const read = await client.api(path).get();
    expect(read.deviceName).toBe('js-crud');
    expect(read.endpointAnalyticsScore).toBe(7.333333333333333);

    await client.api(path).patch({ model: 'js-model', healthStatus: 'meetingGoals' });
    const updated = await client.api(path).get();
    expect(updated.model).toBe('js-model');
    expect(updated.healthStatus).toBe('meetingGoals');

    const represented = await client
      .api(path)
      .header('Prefer', 'return=representation')
      .patch({ manufacturer: 'js-maker' });
    expect(represented.manufacturer).toBe('js-maker');

    await client.api(path).delete();
    const error = await graphErrorOf(client.api(path).get());
    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceNotFound');
  });

  test('list with query options', async () => {
    const client = createClient();
    for (const [deviceName, healthStatus] of [
      ['js-list-a', 'meetingGoals'],
      ['js-list-b', 'needsAttention'],
      ['js-list-c', 'meetingGoals'],
      ['other-d', 'meetingGoals'],
    ]) {
      await client.api(SET).post({ deviceName, healthStatus });
    }

    const page = await client
      .api(SET)
      .filter("startswith(deviceName,'js-list-')")
      .select(['deviceName', 'healthStatus'])
      .orderby('deviceName desc')
      .top(2)
      .count(true)
      .get();

    expect(page['@odata.context']).toBe(
      `${origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores(deviceName,healthStatus)`,
    );
    expect(page['@odata.count']).toBe(3);
    expect(page.value.map((item: { deviceName: string }) => item.deviceName)).toEqual([
      'js-list-c',
      'js-list-b',
    ]);
    expect(page.value[0].healthStatus).toBe('meetingGoals');
    expect(page.value[0]).not.toHaveProperty('endpointAnalyticsScore');
    expect(page['@odata.nextLink'].startsWith(`${origin}/beta/`)).toBe(true);
  });

  test('PageIterator returns 2,500 rows once', async () => {
    const inserted = await queryDatabase<{ id: string }>(
      `INSERT INTO device_scores (tenant_id, id, device_name)
       SELECT $1::uuid, gen_random_uuid(), 'page-' || lpad(n::text, 4, '0')
       FROM generate_series(1, 2500) AS n
       RETURNING id`,
      [pagingTenant],
    );
    const client = createClient(pagingTenant);
    const seen: string[] = [];

    const first = await client.api(SET).select(['id']).top(400).get();
    const iterator = new PageIterator(client, first, (item: { id: string }) => {
      seen.push(item.id);
      return true;
    });
    await iterator.iterate();

    expect(first['@odata.nextLink'].startsWith(`${origin}/beta/`)).toBe(true);
    expect(iterator.isComplete()).toBe(true);
    expect(seen).toHaveLength(2500);
    expect(new Set(seen).size).toBe(2500);
    expect(new Set(seen)).toEqual(new Set(inserted.map((row) => row.id)));
  });

  test('batch through BatchRequestContent', async () => {
    const client = createClient();
    const id = randomUUID();
    const entityUrl = `${origin}/beta${SET}/${id}`;
    const batch = new BatchRequestContent([
      {
        id: 'create',
        request: new Request(`${origin}/beta${SET}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ id, deviceName: 'js-batch' }),
        }),
      },
      { id: 'read', request: new Request(entityUrl), dependsOn: ['create'] },
      {
        id: 'update',
        request: new Request(entityUrl, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json', Prefer: 'return=representation' },
          body: JSON.stringify({ model: 'js-batch-model' }),
        }),
        dependsOn: ['read'],
      },
      {
        id: 'delete',
        request: new Request(entityUrl, { method: 'DELETE' }),
        dependsOn: ['update'],
      },
    ]);

    const raw = await client.api('/$batch').post(await batch.getContent());
    const responses = new BatchResponseContent(raw);

    const created = responses.getResponseById('create');
    expect(created.status).toBe(201);
    expect(created.headers.get('Location')).toBe(entityUrl);
    expect(((await created.json()) as any).deviceName).toBe('js-batch');
    const read = responses.getResponseById('read');
    expect(read.status).toBe(200);
    expect(((await read.json()) as any).id).toBe(id);
    const updated = responses.getResponseById('update');
    expect(updated.status).toBe(200);
    expect(((await updated.json()) as any).model).toBe('js-batch-model');
    expect(responses.getResponseById('delete').status).toBe(204);
    const rows = await queryDatabase('SELECT 1 FROM device_scores WHERE id = $1', [id]);
    expect(rows).toHaveLength(0);
  });

  test('bad filter raises GraphError', async () => {
    const client = createClient();

    const error = await graphErrorOf(client.api(SET).filter('deviceName eq').get());

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('BadRequest');
    expect(error.requestId).toMatch(GUID);
    expect(error.headers?.get('request-id')).toBe(error.requestId);
    expect(error.message.length).toBeGreaterThan(0);
  });

  test('ampersand in a filter literal is 400', async () => {
    const client = createClient();

    const error = await graphErrorOf(client.api(SET).top(5).filter("deviceName eq 'A&B'").get());

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('BadRequest');
    expect(error.requestId).toMatch(GUID);
  });

  test('every error kind raises its GraphError', async () => {
    const client = createClient();
    const created = await client.api(SET).post({ deviceName: 'errors' });
    const entity = `${SET}/${created.id}`;

    const notFound = await graphErrorOf(
      client.api(`${SET}/00000000-0000-4000-8000-0000000000ff`).get(),
    );
    const forbidden = await graphErrorOf(
      createClient(tenant, 'DeviceManagementManagedDevices.Read.All').api(SET).post({}),
    );
    const conflict = await graphErrorOf(client.api(SET).post({ id: created.id }));
    const precondition = await graphErrorOf(
      client.api(entity).header('If-Match', 'W/"0-0"').patch({ model: 'stale' }),
    );
    const invalid = await graphErrorOf(client.api(SET).post({ endpointAnalyticsScore: '87.5' }));
    const notAllowed = await graphErrorOf(client.api(SET).put({}));

    const cases: [GraphError, number, string][] = [
      [notFound, 404, 'ResourceNotFound'],
      [forbidden, 403, 'Forbidden'],
      [conflict, 409, 'Conflict'],
      [precondition, 412, 'PreconditionFailed'],
      [invalid, 400, 'BadRequest'],
      [notAllowed, 405, 'MethodNotAllowed'],
    ];
    for (const [error, status, code] of cases) {
      expect(error.statusCode).toBe(status);
      expect(error.code).toBe(code);
      expect(error.requestId).toMatch(GUID);
    }
  });
});
