import { randomUUID } from 'node:crypto';

import {
  COLLECTION,
  queryDatabase,
  READ,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// $apply over HTTP on device scores: the documented example, the response shape the Data
// Aggregation extension defines, unavailable scores, paging of aggregated results, /$count,
// options after $apply, tenant isolation and the errors.

const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();

const HEALTH = { unknown: 0, insufficientData: 1, needsAttention: 2, meetingGoals: 3 } as const;

interface Device {
  manufacturer: string | null;
  model: string | null;
  score: number;
  battery: number;
  health: keyof typeof HEALTH;
}

/** Three models of two manufacturers, one device without a model, and unavailable scores. */
const DEVICES: Device[] = [
  { manufacturer: 'Contoso', model: 'C1', score: 80, battery: 90, health: 'meetingGoals' },
  { manufacturer: 'Contoso', model: 'C1', score: 60, battery: -1, health: 'needsAttention' },
  { manufacturer: 'Contoso', model: 'C1', score: -1, battery: 70, health: 'insufficientData' },
  { manufacturer: 'Contoso', model: 'C2', score: 30, battery: 20, health: 'needsAttention' },
  { manufacturer: 'Fabrikam', model: 'F1', score: 90, battery: 95, health: 'meetingGoals' },
  { manufacturer: 'Fabrikam', model: 'F1', score: 70, battery: 85, health: 'meetingGoals' },
  { manufacturer: 'Fabrikam', model: null, score: -1, battery: -1, health: 'unknown' },
];

const EXAMPLE =
  '$apply=groupby((manufacturer,model),aggregate(endpointAnalyticsScore with average as ' +
  'averageScore,$count as deviceCount))&$orderby=averageScore&$top=10';

async function insertDevices(tenantId: string, devices: readonly Device[]): Promise<void> {
  for (const device of devices) {
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, manufacturer, model, endpoint_analytics_score,
         battery_health_score, health_status) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        tenantId,
        randomUUID(),
        device.manufacturer,
        device.model,
        device.score,
        device.battery,
        HEALTH[device.health],
      ],
    );
  }
}

/** Encodes each option value the way URLSearchParams would, keeping `$` and `=` readable. */
function encodeQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const equals = part.indexOf('=');
      return `${part.slice(0, equals)}=${encodeURIComponent(part.slice(equals + 1))}`;
    })
    .join('&');
}

describe('$apply over HTTP', () => {
  let service: TestApp;
  let readToken: string;

  beforeAll(async () => {
    service = await startTestApp();
    readToken = await service.token(READ, TENANT);
    await insertDevices(TENANT, DEVICES);
    await insertDevices(OTHER_TENANT, [
      { manufacturer: 'Contoso', model: 'C1', score: 1, battery: 1, health: 'needsAttention' },
      { manufacturer: 'Other', model: 'O1', score: 5, battery: 5, health: 'needsAttention' },
    ]);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [
      [TENANT, OTHER_TENANT],
    ]);
    await service.close();
  });

  function get(query: string, path = COLLECTION) {
    return service.request({
      method: 'GET',
      url: `${path}?${encodeQuery(query)}`,
      token: readToken,
    });
  }

  test('documented example groups, averages and sorts', async () => {
    const response = await get(EXAMPLE);

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body['@odata.context']).toBe(
      `${service.origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores` +
        '(manufacturer,model,averageScore,deviceCount)',
    );
    expect(body.value).toEqual([
      {
        manufacturer: 'Fabrikam',
        model: null,
        averageScore: null,
        'deviceCount@odata.type': '#Decimal',
        deviceCount: 1,
      },
      {
        manufacturer: 'Contoso',
        model: 'C2',
        averageScore: 30,
        'deviceCount@odata.type': '#Decimal',
        deviceCount: 1,
      },
      {
        manufacturer: 'Contoso',
        model: 'C1',
        averageScore: 70,
        'deviceCount@odata.type': '#Decimal',
        deviceCount: 3,
      },
      {
        manufacturer: 'Fabrikam',
        model: 'F1',
        averageScore: 80,
        'deviceCount@odata.type': '#Decimal',
        deviceCount: 2,
      },
    ]);
    expect(body['@odata.nextLink']).toBeUndefined();
  });

  test('unavailable scores are kept on request', async () => {
    const query =
      '$apply=groupby((manufacturer),aggregate(endpointAnalyticsScore with average as a,' +
      'endpointAnalyticsScore with min as low,batteryHealthScore with sum as battery))' +
      '&$orderby=manufacturer';

    const excluded = (await get(query)).json().value;
    const included = (await get(`${query}&includeUnavailableScores=true`)).json().value;

    expect(excluded).toEqual([
      { manufacturer: 'Contoso', a: (80 + 60 + 30) / 3, low: 30, battery: 180 },
      { manufacturer: 'Fabrikam', a: 80, low: 70, battery: 180 },
    ]);
    expect(included).toEqual([
      { manufacturer: 'Contoso', a: (80 + 60 - 1 + 30) / 4, low: -1, battery: 179 },
      { manufacturer: 'Fabrikam', a: (90 + 70 - 1) / 3, low: -1, battery: 179 },
    ]);
  });

  test('includeUnavailableScores rejects other values', async () => {
    const response = await get(
      '$apply=aggregate(endpointAnalyticsScore with sum as total)&includeUnavailableScores=yes',
    );

    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toBe(
      "Invalid includeUnavailableScores: expected true or false, but found 'yes'.",
    );
  });

  test('aggregate without groupby returns one row', async () => {
    const response = await get(
      '$apply=aggregate($count as devices,manufacturer with countdistinct as makers,' +
        'healthStatus with max as worst)',
    );

    expect(response.json().value).toEqual([
      {
        'devices@odata.type': '#Decimal',
        devices: 7,
        'makers@odata.type': '#Decimal',
        makers: 2,
        worst: 'meetingGoals',
      },
    ]);
  });

  test('health states count per state', async () => {
    const response = await get(
      '$apply=groupby((healthStatus),aggregate($count as devices))&$orderby=devices desc,healthStatus',
    );

    expect(
      response.json().value.map((row: Record<string, unknown>) => [row.healthStatus, row.devices]),
    ).toEqual([
      ['meetingGoals', 3],
      ['needsAttention', 2],
      ['unknown', 1],
      ['insufficientData', 1],
    ]);
  });

  test('filter transformation runs before grouping', async () => {
    const response = await get(
      "$apply=filter(healthStatus eq 'meetingGoals')/groupby((manufacturer),aggregate($count as n))" +
        '&$orderby=manufacturer',
    );

    expect(
      response.json().value.map((row: Record<string, unknown>) => [row.manufacturer, row.n]),
    ).toEqual([
      ['Contoso', 1],
      ['Fabrikam', 2],
    ]);
  });

  test('filter and count apply to the aggregated result', async () => {
    const response = await get(
      '$apply=groupby((manufacturer,model),aggregate($count as n))&$filter=n ge 2&$count=true' +
        '&$orderby=n desc',
    );

    const body = response.json();
    expect(body['@odata.count']).toBe(2);
    expect(body.value.map((row: Record<string, unknown>) => [row.model, row.n])).toEqual([
      ['C1', 3],
      ['F1', 2],
    ]);
  });

  test('filter transformation after aggregation', async () => {
    const response = await get(
      '$apply=groupby((model),aggregate(endpointAnalyticsScore with max as best))/filter(best gt 50)' +
        '&$select=model',
    );

    const body = response.json();
    expect(body['@odata.context']).toMatch(/userExperienceAnalyticsDeviceScores\(model\)$/);
    expect(body.value).toEqual([{ model: 'C1' }, { model: 'F1' }]);
  });

  test('second groupby aggregates the first', async () => {
    const response = await get(
      '$apply=groupby((manufacturer,model),aggregate($count as n))' +
        '/groupby((manufacturer),aggregate(n with max as largest,model with countdistinct as models))' +
        '&$orderby=manufacturer',
    );

    expect(response.json().value).toEqual([
      { manufacturer: 'Contoso', largest: 3, 'models@odata.type': '#Decimal', models: 2 },
      { manufacturer: 'Fabrikam', largest: 2, 'models@odata.type': '#Decimal', models: 1 },
    ]);
  });

  test('groupby without aggregate returns distinct values', async () => {
    const response = await get('$apply=groupby((manufacturer))&$orderby=manufacturer desc');

    expect(response.json().value).toEqual([
      { manufacturer: 'Fabrikam' },
      { manufacturer: 'Contoso' },
    ]);
  });

  test('search matches grouped string properties', async () => {
    const response = await get('$apply=groupby((manufacturer,model))&$search=fab');

    expect(response.json().value).toEqual([
      { manufacturer: 'Fabrikam', model: null },
      { manufacturer: 'Fabrikam', model: 'F1' },
    ]);
  });

  test('filter-only apply returns entities', async () => {
    const response = await get("$apply=filter(model eq 'C2')&$select=model");

    const body = response.json();
    expect(body['@odata.context']).toMatch(/userExperienceAnalyticsDeviceScores\(model\)$/);
    expect(body.value).toHaveLength(1);
    expect(body.value[0]).toMatchObject({ '@odata.type': expect.any(String), model: 'C2' });
  });

  test('pages follow $skip next links', async () => {
    const pages: unknown[][] = [];
    let url: string | undefined =
      `${COLLECTION}?${encodeQuery('$apply=groupby((manufacturer,model))&$top=3&$count=true')}`;
    while (url !== undefined) {
      const response = await service.request({ method: 'GET', url, token: readToken });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body['@odata.count']).toBe(4);
      pages.push(body.value);
      const next: string | undefined = body['@odata.nextLink'];
      url = next === undefined ? undefined : next.slice(service.origin.length);
    }

    expect(pages.map((page) => page.length)).toEqual([3, 1]);
    expect(pages.flat()).toEqual([
      { manufacturer: 'Contoso', model: 'C1' },
      { manufacturer: 'Contoso', model: 'C2' },
      { manufacturer: 'Fabrikam', model: null },
      { manufacturer: 'Fabrikam', model: 'F1' },
    ]);
  });

  test('next link keeps the custom option', async () => {
    const response = await get(
      '$apply=groupby((model),aggregate(endpointAnalyticsScore with sum as s))&$top=1' +
        '&includeUnavailableScores=true',
    );

    const next = new URL(response.json()['@odata.nextLink']);
    expect(next.searchParams.get('$skip')).toBe('1');
    expect(next.searchParams.get('$top')).toBe('1');
    expect(next.searchParams.get('includeUnavailableScores')).toBe('true');
  });

  test('count segment counts aggregated rows', async () => {
    const response = await get(
      "$apply=groupby((manufacturer,model))&$filter=manufacturer eq 'Contoso'",
      `${COLLECTION}/$count`,
    );

    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('2');
  });

  test('metadata none drops the decimal annotation', async () => {
    const response = await service.request({
      method: 'GET',
      url: `${COLLECTION}?${encodeQuery('$apply=aggregate($count as n)')}`,
      token: readToken,
      headers: { accept: 'application/json;odata.metadata=none' },
    });

    expect(response.json()).toEqual({ value: [{ n: 7 }] });
  });

  test('v1.0 rejects the beta-only score', async () => {
    const response = await get(
      '$apply=aggregate(meanResourceSpikeTimeScore with average as spike)',
      '/v1.0/deviceManagement/userExperienceAnalyticsDeviceScores',
    );

    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain(
      "'meanResourceSpikeTimeScore' is not available in the v1.0 API",
    );
  });

  test('tenants never see each other', async () => {
    const response = await get(
      '$apply=groupby((manufacturer),aggregate($count as n))&$orderby=manufacturer',
    );

    expect(
      response.json().value.map((row: Record<string, unknown>) => [row.manufacturer, row.n]),
    ).toEqual([
      ['Contoso', 4],
      ['Fabrikam', 3],
    ]);
  });

  test.each([
    ['$apply=groupby((deviceNam))', "Invalid $apply at position 9: 'deviceNam' is not a property"],
    ['$apply=aggregate(deviceName with sum as s)', 'sum applies only to numeric properties'],
    ['$apply=aggregate($count as model)', "the alias 'model' is the name of a property"],
    ['$apply=aggregate($count as n,$count as N)', "the alias 'N' is already the name"],
    ['$apply=aggregate(endpointAnalyticsScore with median as m)', 'expected an aggregation method'],
    ['$apply=topcount(2,endpointAnalyticsScore)', "'topcount' is not a supported transformation"],
    ['$apply=groupby((model),filter(model eq null))', 'must be one aggregate(...) transformation'],
    ["$apply=filter(deviceName eq 'x'", "expected ')' to close filter("],
    ["$apply=filter(deviceName eq 'x' and)", 'Invalid $apply at position 28'],
    [
      '$apply=groupby((model))&$filter=deviceName eq null',
      "'deviceName' is not a property of the aggregated result",
    ],
    ['$apply=groupby((model))&$skiptoken=abc', 'cannot be combined with $apply'],
    ['$apply=groupby((model))&$orderby=endpointAnalyticsScore', 'Invalid $orderby'],
    [
      '$apply=aggregate($count as n)&$search=pc',
      '$search after $apply needs a searchable property',
    ],
    ['$apply=', 'Invalid $apply at position 0'],
    ['$apply=groupby((model))/', 'Invalid $apply at position 17'],
  ])('rejects %s', async (query, message) => {
    const response = await get(query);

    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('BadRequest');
    expect(response.json().error.message).toContain(message);
  });

  test('a deeply nested filter transformation is rejected', async () => {
    const nested = `${'('.repeat(51)}deviceName eq 'a'${')'.repeat(51)}`;
    const response = await get(`$apply=filter(${nested})`);

    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('Invalid $apply');
    expect(response.json().error.message).toContain('maximum of 50 levels');
  });

  test('metadata announces $apply support', async () => {
    const beta = (await service.request({ method: 'GET', url: '/beta/$metadata', token: null }))
      .body;
    const v1 = (await service.request({ method: 'GET', url: '/v1.0/$metadata', token: null })).body;

    expect(beta).toContain('<Annotation Term="Org.OData.Aggregation.V1.ApplySupported">');
    expect(beta).toContain(
      '<Collection><String>aggregate</String><String>groupby</String><String>filter</String>' +
        '<String>identity</String></Collection>',
    );
    expect(beta).toContain('<PropertyPath>meanResourceSpikeTimeScore</PropertyPath>');
    expect(beta).toContain('<PropertyValue Property="Name" String="includeUnavailableScores"/>');
    expect(v1).toContain('<PropertyPath>manufacturer</PropertyPath>');
    expect(v1).not.toContain('meanResourceSpikeTimeScore');
  });

  test('the entity route rejects $apply', async () => {
    const response = await get('$apply=aggregate($count as n)', `${COLLECTION}/${randomUUID()}`);

    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toBe(
      'The query option $apply is not supported on this request.',
    );
  });
});
