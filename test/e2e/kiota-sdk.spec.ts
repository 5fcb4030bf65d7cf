import { randomUUID } from 'node:crypto';

import {
  AllowedHostsValidator,
  BaseBearerTokenAuthenticationProvider,
  HttpMethod,
  RequestInformation,
  validateProtocol,
  type AccessTokenProvider,
  type ErrorMappings,
} from '@microsoft/kiota-abstractions';
import { GraphBetaRequestAdapter } from '@microsoft/msgraph-beta-sdk';
import {
  createUserExperienceAnalyticsDeviceScoresCollectionResponseFromDiscriminatorValue,
  createUserExperienceAnalyticsDeviceScoresFromDiscriminatorValue,
  serializeUserExperienceAnalyticsDeviceScores,
  UserExperienceAnalyticsHealthStateObject,
  type UserExperienceAnalyticsDeviceScores,
  type UserExperienceAnalyticsDeviceScoresCollectionResponse,
} from '@microsoft/msgraph-beta-sdk/models/index.js';
import {
  createODataErrorFromDiscriminatorValue,
  type ODataError,
} from '@microsoft/msgraph-beta-sdk/models/oDataErrors/index.js';
import { PageIterator, type PageCollection } from '@microsoft/msgraph-sdk-core';

import {
  READ_WRITE,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// The Microsoft Graph beta SDK for TypeScript against the running service. The SDK does not
// publish the device management request builders, so requests are built from the URL templates
// of the generated builders and sent through GraphBetaRequestAdapter, parsed with the SDK's own
// model factories, as an application using the SDK would.

const COLLECTION_TEMPLATE =
  '{+baseurl}/deviceManagement/userExperienceAnalyticsDeviceScores' +
  '{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}';
const ENTITY_TEMPLATE =
  '{+baseurl}/deviceManagement/userExperienceAnalyticsDeviceScores/' +
  '{userExperienceAnalyticsDeviceScores%2Did}{?%24expand,%24select}';
/** Maps the query parameter names of the generated request builders to template names. */
const QUERY_PARAMETER_NAMES: Record<string, string> = {
  count: '%24count',
  expand: '%24expand',
  filter: '%24filter',
  orderby: '%24orderby',
  search: '%24search',
  select: '%24select',
  skip: '%24skip',
  top: '%24top',
};
const ERROR_MAPPINGS: ErrorMappings = {
  XXX: createODataErrorFromDiscriminatorValue,
};

const TENANT = randomUUID();
const PAGING_TENANT = randomUUID();
const PAGING_ROWS = 1200;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface CollectionQuery {
  count?: boolean;
  filter?: string;
  orderby?: string[];
  search?: string;
  select?: string[];
  skip?: number;
  top?: number;
}

/** Rows of TENANT, inserted directly: names with URL delimiters, ties and a null. */
const KNOWN_ROWS = [
  { id: randomUUID(), name: 'PC-1', score: 87.5, health: 3 },
  { id: randomUUID(), name: 'PC-2', score: 42, health: 2 },
  { id: randomUUID(), name: 'A&B+C 50%', score: 99.25, health: 3 },
  { id: randomUUID(), name: "O'Brien #1", score: 42, health: 1 },
  { id: randomUUID(), name: null, score: -1, health: 0 },
];

/** Supplies tokens minted by the test issuer, only for the loopback address of the service. */
class TestTokenProvider implements AccessTokenProvider {
  private readonly allowedHosts = new AllowedHostsValidator(new Set(['127.0.0.1']));

  constructor(private readonly mint: () => Promise<string>) {}

  async getAuthorizationToken(url?: string): Promise<string> {
    if (url === undefined || !this.allowedHosts.isUrlHostValid(url)) {
      return '';
    }
    validateProtocol(url);

    return this.mint();
  }

  getAllowedHostsValidator(): AllowedHostsValidator {
    return this.allowedHosts;
  }
}

describe('Microsoft Graph beta SDK (Kiota)', () => {
  let service: TestApp;
  let adapter: GraphBetaRequestAdapter;
  let pagingAdapter: GraphBetaRequestAdapter;

  function createAdapter(tenantId: string): GraphBetaRequestAdapter {
    const provider = new TestTokenProvider(() => service.token(READ_WRITE, tenantId));
    const created = new GraphBetaRequestAdapter(
      new BaseBearerTokenAuthenticationProvider(provider),
    );
    created.baseUrl = `${service.origin}/beta`;

    return created;
  }

  function collectionRequest(query: CollectionQuery = {}): RequestInformation {
    const request = new RequestInformation(HttpMethod.GET, COLLECTION_TEMPLATE);
    request.configure({ queryParameters: query }, QUERY_PARAMETER_NAMES);
    request.headers.tryAdd('Accept', 'application/json');

    return request;
  }

  async function list(
    query: CollectionQuery = {},
    through = adapter,
  ): Promise<UserExperienceAnalyticsDeviceScoresCollectionResponse> {
    const page = await through.send<UserExperienceAnalyticsDeviceScoresCollectionResponse>(
      collectionRequest(query),
      createUserExperienceAnalyticsDeviceScoresCollectionResponseFromDiscriminatorValue,
      ERROR_MAPPINGS,
    );
    if (page === undefined) {
      throw new Error('The SDK parsed no collection from the response.');
    }

    return page;
  }

  async function getOne(id: string): Promise<UserExperienceAnalyticsDeviceScores | undefined> {
    const request = new RequestInformation(HttpMethod.GET, ENTITY_TEMPLATE, {
      'userExperienceAnalyticsDeviceScores%2Did': id,
    });
    request.headers.tryAdd('Accept', 'application/json');

    return adapter.send<UserExperienceAnalyticsDeviceScores>(
      request,
      createUserExperienceAnalyticsDeviceScoresFromDiscriminatorValue,
      ERROR_MAPPINGS,
    );
  }

  const ids = (page: UserExperienceAnalyticsDeviceScoresCollectionResponse) =>
    (page.value ?? []).map((item) => item.id);
  const idOf = (name: string | null) => KNOWN_ROWS.find((row) => row.name === name)?.id;

  beforeAll(async () => {
    service = await startTestApp();
    adapter = createAdapter(TENANT);
    pagingAdapter = createAdapter(PAGING_TENANT);
    await clearTenants(TENANT, PAGING_TENANT);
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, device_name, endpoint_analytics_score, health_status)
       SELECT $1::uuid, * FROM unnest($2::uuid[], $3::text[], $4::float8[], $5::int2[])`,
      [
        TENANT,
        KNOWN_ROWS.map((row) => row.id),
        KNOWN_ROWS.map((row) => row.name),
        KNOWN_ROWS.map((row) => row.score),
        KNOWN_ROWS.map((row) => row.health),
      ],
    );
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, device_name, endpoint_analytics_score)
       SELECT $1::uuid, gen_random_uuid(), 'device-' || n, n % 101
       FROM generate_series(1, $2::int) AS n`,
      [PAGING_TENANT, PAGING_ROWS],
    );
  });

  afterAll(async () => {
    await clearTenants(TENANT, PAGING_TENANT);
    await service.close();
  });

  it('lists the collection', async () => {
    const page = await list();

    expect(ids(page).sort()).toEqual(KNOWN_ROWS.map((row) => row.id).sort());
    expect(page.odataNextLink).toBeUndefined();
    expect(page.odataCount).toBeUndefined();
  });

  it('filters, with & and + inside a literal', async () => {
    const meetingGoals = await list({
      filter: "healthStatus eq 'meetingGoals' and endpointAnalyticsScore gt 90",
    });
    const delimiters = await list({ filter: "deviceName eq 'A&B+C 50%'" });
    const quoted = await list({ filter: "deviceName in ('O''Brien #1', 'PC-2')" });
    const nulls = await list({ filter: 'deviceName eq null' });

    expect(ids(meetingGoals)).toEqual([idOf('A&B+C 50%')]);
    expect(ids(delimiters)).toEqual([idOf('A&B+C 50%')]);
    expect(ids(quoted).sort()).toEqual([idOf("O'Brien #1"), idOf('PC-2')].sort());
    expect(ids(nulls)).toEqual([idOf(null)]);
  });

  it('selects properties', async () => {
    const page = await list({
      select: ['deviceName', 'healthStatus'],
      filter: "deviceName eq 'PC-2'",
    });
    const [item] = page.value ?? [];

    expect(item.deviceName).toBe('PC-2');
    expect(item.healthStatus).toBe(UserExperienceAnalyticsHealthStateObject.NeedsAttention);
    expect(item.endpointAnalyticsScore).toBeUndefined();
    expect(item.id).toBeUndefined();
  });

  it('orders, pages with top and counts', async () => {
    const ordered = await list({ orderby: ['endpointAnalyticsScore desc', 'deviceName'] });
    const firstTwo = await list({ top: 2, count: true, orderby: ['deviceName desc'] });

    // Kiota reads a JSON null as undefined.
    expect((ordered.value ?? []).map((item) => item.deviceName ?? null)).toEqual([
      'A&B+C 50%',
      'PC-1',
      "O'Brien #1",
      'PC-2',
      null,
    ]);
    expect((firstTwo.value ?? []).map((item) => item.deviceName)).toEqual(['PC-2', 'PC-1']);
    expect(firstTwo.odataCount).toBe(KNOWN_ROWS.length);
    expect(firstTwo.odataNextLink).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/beta\/deviceManagement\//);
  });

  it('iterates every page with PageIterator', async () => {
    // The filter puts quotes, braces, %, & and + into every next link, which the iterator
    // expands as a URI template.
    const first = await list(
      {
        top: 100,
        count: true,
        orderby: ['endpointAnalyticsScore'],
        filter: "deviceName ne 'x+y&z {100%}'",
      },
      pagingAdapter,
    );
    const seen: string[] = [];
    const scores: number[] = [];
    const iterator = new PageIterator<UserExperienceAnalyticsDeviceScores>(
      pagingAdapter,
      first as PageCollection<UserExperienceAnalyticsDeviceScores>,
      (item) => {
        seen.push(item.id ?? '');
        scores.push(item.endpointAnalyticsScore ?? Number.NaN);

        return true;
      },
      createUserExperienceAnalyticsDeviceScoresCollectionResponseFromDiscriminatorValue,
      ERROR_MAPPINGS,
    );

    await iterator.iterate();

    expect(first.odataCount).toBe(PAGING_ROWS);
    expect(iterator.getPagingState()).toBe('Complete');
    expect(seen).toHaveLength(PAGING_ROWS);
    expect(new Set(seen).size).toBe(PAGING_ROWS);
    expect(seen.every((id) => GUID.test(id))).toBe(true);
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
  });

  it('creates and reads back every typed property', async () => {
    const body: UserExperienceAnalyticsDeviceScores = {
      odataType: '#microsoft.graph.userExperienceAnalyticsDeviceScores',
      deviceName: 'Kiota-PC',
      model: 'Surface Laptop 5',
      manufacturer: 'Microsoft Corporation',
      endpointAnalyticsScore: 7.333333333333333,
      startupPerformanceScore: 100,
      appReliabilityScore: 0,
      workFromAnywhereScore: -1,
      batteryHealthScore: 55.5,
      meanResourceSpikeTimeScore: 12.25,
      healthStatus: UserExperienceAnalyticsHealthStateObject.NeedsAttention,
    };
    const request = new RequestInformation(HttpMethod.POST, COLLECTION_TEMPLATE);
    request.headers.tryAdd('Accept', 'application/json');
    request.setContentFromParsable(
      adapter,
      'application/json',
      body,
      serializeUserExperienceAnalyticsDeviceScores,
    );

    const created = await adapter.send<UserExperienceAnalyticsDeviceScores>(
      request,
      createUserExperienceAnalyticsDeviceScoresFromDiscriminatorValue,
      ERROR_MAPPINGS,
    );
    const read = await getOne(created?.id ?? '');

    expect(created?.id).toMatch(GUID);
    for (const entity of [created, read]) {
      expect(entity).toMatchObject({
        id: created?.id,
        odataType: '#microsoft.graph.userExperienceAnalyticsDeviceScores',
        deviceName: 'Kiota-PC',
        model: 'Surface Laptop 5',
        manufacturer: 'Microsoft Corporation',
        endpointAnalyticsScore: 7.333333333333333,
        startupPerformanceScore: 100,
        appReliabilityScore: 0,
        workFromAnywhereScore: -1,
        batteryHealthScore: 55.5,
        meanResourceSpikeTimeScore: 12.25,
        healthStatus: 'needsAttention',
      });
      for (const score of [
        entity?.endpointAnalyticsScore,
        entity?.startupPerformanceScore,
        entity?.appReliabilityScore,
        entity?.workFromAnywhereScore,
        entity?.batteryHealthScore,
        entity?.meanResourceSpikeTimeScore,
      ]) {
        expect(typeof score).toBe('number');
      }
    }
    // Every property the service sends is in the SDK model, so none lands in additionalData.
    const unknown = Object.keys(read?.additionalData ?? {}).filter(
      (name) => !name.startsWith('@odata.'),
    );
    expect(unknown).toEqual([]);
  });

  it('surfaces a bad filter as an ODataError', async () => {
    let failure: ODataError | undefined;
    try {
      await list({ filter: 'deviceName eq' });
    } catch (error) {
      failure = error as ODataError;
    }

    expect(failure).toBeDefined();
    expect(failure?.responseStatusCode).toBe(400);
    expect(failure?.errorEscaped?.code).toBe('BadRequest');
    expect(failure?.errorEscaped?.message).toContain('Invalid $filter');
    expect(failure?.errorEscaped?.innerError?.requestId).toMatch(GUID);
    expect(failure?.responseHeaders?.['request-id']).toEqual([
      failure?.errorEscaped?.innerError?.requestId,
    ]);
  });

  it('updates and deletes through generated templates', async () => {
    const id = randomUUID();
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, device_name) VALUES ($1, $2, 'Kiota-update')`,
      [TENANT, id],
    );
    const pathParameters = { 'userExperienceAnalyticsDeviceScores%2Did': id };

    const patch = new RequestInformation(HttpMethod.PATCH, ENTITY_TEMPLATE, pathParameters);
    patch.headers.tryAdd('Accept', 'application/json');
    patch.setContentFromParsable(
      adapter,
      'application/json',
      { model: 'Updated model', batteryHealthScore: 42.5 },
      serializeUserExperienceAnalyticsDeviceScores,
    );
    await adapter.sendNoResponseContent(patch, ERROR_MAPPINGS);
    const updated = await getOne(id);

    const remove = new RequestInformation(HttpMethod.DELETE, ENTITY_TEMPLATE, pathParameters);
    await adapter.sendNoResponseContent(remove, ERROR_MAPPINGS);
    let failure: ODataError | undefined;
    try {
      await getOne(id);
    } catch (error) {
      failure = error as ODataError;
    }

    expect(updated?.model).toBe('Updated model');
    expect(updated?.batteryHealthScore).toBe(42.5);
    expect(updated?.deviceName).toBe('Kiota-update');
    expect(failure?.responseStatusCode).toBe(404);
    expect(failure?.errorEscaped?.code).toBe('ResourceNotFound');
  });
});
