import { randomUUID } from 'node:crypto';

import { clearTenants, COLLECTION, startTestApp, type TestApp } from '../support/test-app.js';

const TENANT = randomUUID();
const ENTITY_ROUTE = `${COLLECTION}/:id`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format into samples, skipping comments. */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) {
      throw new Error(`Unparsable metrics line: ${line}`);
    }
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }

  return samples;
}

/** Returns the value of the one sample with this name and these labels, or undefined. */
function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) {
    throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  }

  return found[0]?.value;
}

async function scrape(service: TestApp): Promise<Sample[]> {
  const response = await service.request({ method: 'GET', url: '/metrics', token: null });
  expect(response.statusCode).toBe(200);

  return parseSamples(response.body);
}

describe('metrics endpoint', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '3', THROTTLE_WINDOW_SECONDS: '60' });
  });

  afterAll(async () => {
    await clearTenants(TENANT);
    await service.close();
  });

  test('responds without a token in Prometheus format', async () => {
    const response = await service.request({ method: 'GET', url: '/metrics', token: null });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.body).toContain('# TYPE http_requests_total counter');
    expect(response.body).toContain('# TYPE http_request_duration_seconds histogram');
  });

  test('includes the default process metrics', async () => {
    const samples = await scrape(service);

    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  test('labels requests by route pattern, not by URL', async () => {
    const token = await service.token(undefined, TENANT);
    const missingId = randomUUID();
    const before = await scrape(service);
    const labels = { method: 'GET', route: ENTITY_ROUTE, status_code: '404' };
    const countBefore = valueOf(before, 'http_requests_total', labels) ?? 0;

    const response = await service.request({
      method: 'GET',
      url: `${COLLECTION}/${missingId}`,
      token,
    });
    const samples = await scrape(service);

    expect(response.statusCode).toBe(404);
    expect(valueOf(samples, 'http_requests_total', labels)).toBe(countBefore + 1);
    expect(valueOf(samples, 'http_request_duration_seconds_count', labels)).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      valueOf(samples, 'http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }),
    ).toBe(valueOf(samples, 'http_request_duration_seconds_count', labels));
    expect(samples.some((sample) => JSON.stringify(sample.labels).includes(missingId))).toBe(false);
  });

  test('groups unknown paths under one route label', async () => {
    const path = `/no-such-path-${randomUUID()}`;

    const response = await service.request({ method: 'GET', url: path, token: null });
    const samples = await scrape(service);

    expect(response.statusCode).toBe(404);
    expect(
      valueOf(samples, 'http_requests_total', {
        method: 'GET',
        route: 'unmatched',
        status_code: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(samples.some((sample) => sample.labels.route === path)).toBe(false);
  });

  test('reports the database pool and query durations', async () => {
    const token = await service.token(undefined, TENANT);
    const queriesBefore = valueOf(await scrape(service), 'db_query_duration_seconds_count') ?? 0;

    const response = await service.request({ method: 'GET', url: COLLECTION, token });
    const samples = await scrape(service);

    expect(response.statusCode).toBe(200);
    expect(valueOf(samples, 'db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'db_pool_connections', { state: 'in_use' })).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'db_pool_connections_max')).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'db_pool_waiting_requests')).toBe(0);
    expect(valueOf(samples, 'db_query_duration_seconds_count')).toBeGreaterThan(queriesBefore);
    expect(valueOf(samples, 'db_query_failures_total')).toBe(0);
  });

  test('counts rate-limit rejections', async () => {
    // A fresh tenant has fresh counters: three requests pass, the next two are rejected.
    const token = await service.token(undefined, randomUUID());
    const before = await scrape(service);
    const labels = { method: 'GET', route: COLLECTION };
    const rejectedBefore = valueOf(before, 'rate_limit_rejections_total', labels) ?? 0;

    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      statuses.push((await service.request({ method: 'GET', url: COLLECTION, token })).statusCode);
    }
    const samples = await scrape(service);

    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(valueOf(samples, 'rate_limit_rejections_total', labels)).toBe(rejectedBefore + 2);
    expect(
      valueOf(samples, 'http_requests_total', { ...labels, status_code: '429' }),
    ).toBeGreaterThanOrEqual(2);
  });

  test('keeps the counters of each instance apart', async () => {
    const other = await startTestApp();
    try {
      const path = `/only-on-one-instance-${randomUUID()}`;
      const labels = { method: 'GET', route: 'unmatched', status_code: '404' };
      const firstBefore = valueOf(await scrape(service), 'http_requests_total', labels) ?? 0;

      await other.request({ method: 'GET', url: path, token: null });
      await other.request({ method: 'GET', url: path, token: null });

      expect(valueOf(await scrape(other), 'http_requests_total', labels)).toBe(2);
      expect(valueOf(await scrape(service), 'http_requests_total', labels)).toBe(firstBefore);
    } finally {
      await other.close();
    }
  });
});
