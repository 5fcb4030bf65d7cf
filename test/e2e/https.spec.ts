import { randomUUID } from 'node:crypto';

import { type HttpRequestOptions, sendRequest } from '../support/http-client.js';
import { READ_WRITE, clearTenants, startTestApp, type TestApp } from '../support/test-app.js';
import { startHttpsTestApp, type TestCertificate } from '../support/tls.js';

const SET_PATH = 'deviceManagement/userExperienceAnalyticsDeviceScores';
const COLLECTION = `/beta/${SET_PATH}`;

/** Path and query of an absolute link, to request it from the address under test. */
function pathOf(link: string): string {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

describe('HTTPS listener', () => {
  const tenant = randomUUID();
  let certificate: TestCertificate;
  let service: TestApp;
  let origin: string;
  let token: string;

  beforeAll(async () => {
    ({ service, certificate, origin } = await startHttpsTestApp());
    token = await service.token(READ_WRITE, tenant);
    for (const name of ['https-a', 'https-b', 'https-c']) {
      const created = await send({
        method: 'POST',
        url: COLLECTION,
        payload: { deviceName: name },
      });
      expect(created.statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await clearTenants(tenant);
    await service.close();
    await certificate.cleanup();
  });

  function send(options: HttpRequestOptions) {
    return sendRequest(
      origin,
      { ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } },
      certificate.certificate,
    );
  }

  test('list links use https', async () => {
    const first = await send({ method: 'GET', url: `${COLLECTION}?$top=1&$orderby=deviceName` });

    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body['@odata.context']).toBe(`${origin}/beta/$metadata#${SET_PATH}`);
    expect(body['@odata.nextLink'].startsWith(`${origin}/beta/${SET_PATH}?`)).toBe(true);
  });

  test('next links return each row once', async () => {
    const names: string[] = [];
    let link: string | undefined = `${origin}${COLLECTION}?$top=1&$orderby=deviceName`;

    while (link !== undefined) {
      expect(link.startsWith(`${origin}/beta/`)).toBe(true);
      const page = await send({ method: 'GET', url: pathOf(link) });
      expect(page.statusCode).toBe(200);
      const body = page.json();
      names.push(...body.value.map((item: { deviceName: string }) => item.deviceName));
      link = body['@odata.nextLink'];
    }

    expect(names).toEqual(['https-a', 'https-b', 'https-c']);
  });

  test('entity context and Location use https', async () => {
    const created = await send({ method: 'POST', url: COLLECTION, payload: { deviceName: 'loc' } });

    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(created.headers.location).toBe(`${origin}${COLLECTION}/${body.id}`);
    expect(body['@odata.context']).toBe(`${origin}/beta/$metadata#${SET_PATH}/$entity`);
  });

  test('forwarded headers ignored without TRUST_PROXY', async () => {
    const response = await send({
      method: 'GET',
      url: `${COLLECTION}?$top=1`,
      headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'example.test' },
    });

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body['@odata.context'].startsWith(`${origin}/beta/`)).toBe(true);
    expect(body['@odata.nextLink'].startsWith(`${origin}/beta/`)).toBe(true);
  });

  test('batch inner requests run over https', async () => {
    const response = await send({
      method: 'POST',
      url: '/beta/$batch',
      payload: {
        requests: [
          { id: 'list', method: 'GET', url: `/${SET_PATH}?$top=1` },
          {
            id: 'create',
            method: 'POST',
            url: `/${SET_PATH}`,
            headers: { 'content-type': 'application/json' },
            body: { deviceName: 'batch-over-https' },
          },
        ],
      },
    });

    expect(response.statusCode).toBe(200);
    const [list, create] = response.json().responses;
    expect(list.status).toBe(200);
    expect(list.body['@odata.nextLink'].startsWith(`${origin}/beta/${SET_PATH}?`)).toBe(true);
    expect(create.status).toBe(201);
    expect(create.headers.Location).toBe(`${origin}${COLLECTION}/${create.body.id}`);
  });
});

describe('TRUST_PROXY forwarded headers', () => {
  const tenant = randomUUID();
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.test' };
  let proxied: TestApp;
  let direct: TestApp;

  beforeAll(async () => {
    proxied = await startTestApp({ TRUST_PROXY: 'true' });
    direct = await startTestApp();
    const token = await proxied.token(READ_WRITE, tenant);
    for (const name of ['proxy-a', 'proxy-b']) {
      const created = await proxied.request({
        method: 'POST',
        url: COLLECTION,
        payload: { deviceName: name },
        token,
      });
      expect(created.statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await clearTenants(tenant);
    await proxied.close();
    await direct.close();
  });

  async function list(service: TestApp, headers: Record<string, string>) {
    return service.request({
      method: 'GET',
      url: `${COLLECTION}?$top=1`,
      headers,
      token: await service.token(READ_WRITE, tenant),
    });
  }

  test('trusted headers set scheme and host', async () => {
    const response = await list(proxied, forwarded);

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body['@odata.context']).toBe(`https://example.test/beta/$metadata#${SET_PATH}`);
    expect(body['@odata.nextLink'].startsWith(`https://example.test/beta/${SET_PATH}?`)).toBe(true);
  });

  test('first forwarded value wins', async () => {
    const response = await list(proxied, {
      'x-forwarded-proto': 'https, http',
      'x-forwarded-host': 'example.test, proxy.internal',
    });

    expect(response.json()['@odata.nextLink'].startsWith('https://example.test/beta/')).toBe(true);
  });

  test('next link works through the proxy', async () => {
    const first = (await list(proxied, forwarded)).json();
    const token = await proxied.token(READ_WRITE, tenant);

    const second = await proxied.request({
      method: 'GET',
      url: pathOf(first['@odata.nextLink']),
      headers: forwarded,
      token,
    });

    expect(second.statusCode).toBe(200);
    expect(second.json().value).toHaveLength(1);
    expect(second.json().value[0].deviceName).not.toBe(first.value[0].deviceName);
  });

  test('batch inner links follow the proxy', async () => {
    const response = await proxied.request({
      method: 'POST',
      url: '/beta/$batch',
      headers: forwarded,
      payload: { requests: [{ id: '1', method: 'GET', url: `/${SET_PATH}?$top=1` }] },
      token: await proxied.token(READ_WRITE, tenant),
    });

    expect(response.statusCode).toBe(200);
    const entry = response.json().responses[0];
    expect(entry.status).toBe(200);
    expect(entry.body['@odata.context']).toBe(`https://example.test/beta/$metadata#${SET_PATH}`);
    expect(entry.body['@odata.nextLink'].startsWith(`https://example.test/beta/${SET_PATH}?`)).toBe(
      true,
    );
  });

  test('headers ignored without TRUST_PROXY', async () => {
    const response = await list(direct, forwarded);

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body['@odata.context']).toBe(`${direct.origin}/beta/$metadata#${SET_PATH}`);
    expect(body['@odata.nextLink'].startsWith(`${direct.origin}/beta/${SET_PATH}?`)).toBe(true);
  });
});
