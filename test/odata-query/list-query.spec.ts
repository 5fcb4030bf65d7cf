import {
  planCountQuery,
  planEntityQuery,
  planListQuery,
  type ListQueryOptions,
} from '../../src/odata/query/list-query.js';
import { splitQueryString } from '../../src/odata/query/query-string.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

const OPTIONS: ListQueryOptions = {
  surface: 'beta',
  maxPageSize: 1000,
  skiptokenSecret: Buffer.from('0123456789abcdef0123456789abcdef'),
  scope: 'tenant-1|beta|userExperienceAnalyticsDeviceScores',
  accepted: new Set(['filter', 'orderby', 'select', 'top', 'skip', 'count', 'search', 'skiptoken']),
  alias: 'ds',
};

const ROW = {
  id: '00000000-0000-4000-8000-00000000000B',
  device_name: 'PC-B',
  endpoint_analytics_score: 9.5,
  health_status: 2,
};

describe('planListQuery', () => {
  it('plans a request without options', () => {
    const plan = planListQuery('', DEVICE_SCORES, OPTIONS);

    expect(plan).toMatchObject({ pageSize: 1000, skip: 0, count: false });
    expect(plan.filter).toBeUndefined();
    expect(plan.search).toBeUndefined();
    expect(plan.after).toBeUndefined();
    expect(plan.select).toBeUndefined();
    expect(plan.top).toBeUndefined();
    expect(plan.orderBy.map((column) => column.column)).toEqual(['id']);
  });

  it('compiles every option', () => {
    const plan = planListQuery(
      "$filter=deviceName%20eq%20'PC-A'&$search=contoso&$orderby=endpointAnalyticsScore+desc" +
        '&$select=DeviceName&$top=2&$skip=3&$count=TRUE',
      DEVICE_SCORES,
      OPTIONS,
    );

    expect(plan.filter).toEqual({
      sql: '(ds.device_name = CAST(:odata_f_0 AS text))',
      params: { odata_f_0: 'PC-A' },
    });
    expect(plan.search?.params).toEqual({ odata_s_0: '%contoso%' });
    expect(plan.orderBy.map((column) => `${column.column} ${column.direction}`)).toEqual([
      'endpoint_analytics_score DESC',
      'id ASC',
    ]);
    expect(plan).toMatchObject({
      select: ['deviceName'],
      pageSize: 2,
      top: 2,
      skip: 3,
      count: true,
    });
  });

  it.each([
    ['$top=1000000', 1000],
    ['$top=5', 5],
    ['$top=0', 0],
  ])('sets the page size for %j', (rawQuery, pageSize) => {
    expect(planListQuery(rawQuery, DEVICE_SCORES, OPTIONS).pageSize).toBe(pageSize);
  });

  it('rejects a misconfigured maximum page size', () => {
    expect(() => planListQuery('', DEVICE_SCORES, { ...OPTIONS, maxPageSize: 0 })).toThrow(
      'maxPageSize must be a positive integer',
    );
  });

  it.each([
    ['$top=', 'Invalid $top'],
    ['$top=-1', 'Invalid $top'],
    ['$skip=-1', 'Invalid $skip'],
    ['$top=abc', 'Invalid $top'],
    ['$skip=1.5', 'Invalid $skip'],
    ['$top=9007199254740993', 'Invalid $top'],
    ['$top=1&$top=3', 'specified more than once'],
    [
      "$filter=healthStatus eq 'unknown'&$filter=healthStatus eq 'meetingGoals'",
      'specified more than once',
    ],
    ['$filter=healthStatus%20eq%202', 'compared by member name'],
    ['$filter=colour eq 1', "'colour' is not a property"],
    ['$orderby=colour', "'colour' is not a property"],
    ['$select=deviceName,colour', "'colour' is not a property"],
    ['$expand=x', '$expand is not supported'],
    ['$count=yes', 'Invalid $count'],
    ['$search="open', 'Invalid $search'],
    ['$skiptoken=abc', 'Invalid $skiptoken'],
    [
      "$filter=deviceName%20eq%20'a%00'",
      'Invalid $filter at position 16: the value contains a NUL character',
    ],
    ['$search=a%00', 'Invalid $search at position 1: the value contains a NUL character'],
  ])('rejects %j', (rawQuery, expected) => {
    expect(badRequestMessage(() => planListQuery(rawQuery, DEVICE_SCORES, OPTIONS))).toContain(
      expected,
    );
  });

  it('accepts option names in any case', () => {
    expect(planListQuery('$TOP=1', DEVICE_SCORES, OPTIONS).pageSize).toBe(1);
  });
});

describe('next links', () => {
  const first =
    "$filter=healthStatus+eq+'needsAttention'&$orderby=deviceName+desc&$top=1&$skip=0&$count=true";

  it('repeat the options without $skip and add a URL-safe $skiptoken', () => {
    const link = planListQuery(first, DEVICE_SCORES, OPTIONS).nextLinkQuery(ROW);
    const options = splitQueryString(link, OPTIONS.accepted);

    expect(options.filter?.value).toBe("healthStatus eq 'needsAttention'");
    expect(options.orderby?.value).toBe('deviceName desc');
    expect(options.top?.value).toBe('1');
    expect(options.count?.value).toBe('true');
    expect(options.skip).toBeUndefined();
    expect(options.skiptoken?.value).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(link).not.toMatch(/[{} +]/);
  });

  it('lead to a plan that starts after the last row', () => {
    const link = planListQuery(first, DEVICE_SCORES, OPTIONS).nextLinkQuery(ROW);
    const next = planListQuery(link, DEVICE_SCORES, OPTIONS);

    expect(next.skip).toBe(0);
    expect(next.after?.params).toEqual({
      odata_k_0: 'PC-B',
      odata_k_1: '00000000-0000-4000-8000-00000000000b',
    });
    expect(next.filter?.params).toEqual({ odata_f_0: 2 });
    expect(next.nextLinkQuery(ROW)).toBe(link);
  });

  it('use parameter names that never collide between fragments', () => {
    const link = planListQuery(`${first}&$search=a`, DEVICE_SCORES, OPTIONS).nextLinkQuery(ROW);
    const next = planListQuery(link, DEVICE_SCORES, OPTIONS);
    const names = [next.filter, next.search, next.after].flatMap((fragment) =>
      Object.keys(fragment?.params ?? {}),
    );

    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(4);
  });

  const link = planListQuery(first, DEVICE_SCORES, OPTIONS).nextLinkQuery(ROW);
  const token = splitQueryString(link, OPTIONS.accepted).skiptoken?.value ?? '';

  it.each([
    ['a different $top', link.replace('$top=1', '$top=2')],
    ['a different $filter', link.replace('needsAttention', 'meetingGoals')],
    ['a different $orderby', link.replace('deviceName%20desc', 'deviceName%20asc')],
    ['no $count', link.replace('&$count=true', '')],
    ['an added $select', `${link}&$select=id`],
    ['an added $search', `${link}&$search=x`],
    ['no other option', `$skiptoken=${token}`],
  ])('fail with %s', (_, changed) => {
    expect(changed).not.toBe(link);
    expect(badRequestMessage(() => planListQuery(changed, DEVICE_SCORES, OPTIONS))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it('fail for another tenant or surface', () => {
    const otherTenant = { ...OPTIONS, scope: 'tenant-2|beta|userExperienceAnalyticsDeviceScores' };
    const otherSurface = {
      ...OPTIONS,
      surface: 'v1.0' as const,
      scope: 'tenant-1|v1.0|userExperienceAnalyticsDeviceScores',
    };

    expect(badRequestMessage(() => planListQuery(link, DEVICE_SCORES, otherTenant))).toMatch(
      /^Invalid \$skiptoken/,
    );
    expect(badRequestMessage(() => planListQuery(link, DEVICE_SCORES, otherSurface))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it('accept the same options spelled differently', () => {
    const respelled = link
      .replace('$filter=', 'filter=')
      .replace('$top=', '%24TOP=')
      .replaceAll('%20', '+');

    expect(planListQuery(respelled, DEVICE_SCORES, OPTIONS).after).toBeDefined();
  });

  it('reject $skip combined with $skiptoken', () => {
    expect(
      badRequestMessage(() => planListQuery(`${link}&$skip=1`, DEVICE_SCORES, OPTIONS)),
    ).toContain('$skip and $skiptoken cannot be combined');
  });

  it('need every ORDER BY column in the last row', () => {
    const plan = planListQuery(first, DEVICE_SCORES, OPTIONS);

    expect(() => plan.nextLinkQuery({ id: ROW.id })).toThrow("The row has no 'device_name' column");
  });
});

describe('planEntityQuery', () => {
  const accepted = new Set(['select']);

  it('returns canonical $select names', () => {
    expect(
      planEntityQuery('$select=DeviceName,EndpointAnalyticsScore', DEVICE_SCORES, {
        surface: 'beta',
        accepted,
      }),
    ).toEqual({ select: ['deviceName', 'endpointAnalyticsScore'] });
    expect(planEntityQuery('', DEVICE_SCORES, { surface: 'beta', accepted })).toEqual({
      select: undefined,
    });
  });

  it('rejects options a single entity does not take', () => {
    expect(
      badRequestMessage(() =>
        planEntityQuery('$filter=true', DEVICE_SCORES, { surface: 'beta', accepted }),
      ),
    ).toBe('The query option $filter is not supported on this request.');
  });
});

describe('planCountQuery', () => {
  const accepted = new Set(['filter', 'search']);

  it('compiles $filter and $search', () => {
    const plan = planCountQuery("$filter=model eq 'M1'&$search=pc", DEVICE_SCORES, {
      surface: 'beta',
      accepted,
      paramPrefix: 'c',
    });

    expect(plan.filter).toEqual({ sql: '(model = CAST(:c_f_0 AS text))', params: { c_f_0: 'M1' } });
    expect(plan.search?.params).toEqual({ c_s_0: '%pc%' });
  });

  it('rejects $count and $top on the count path', () => {
    for (const rawQuery of ['$count=true', '$top=1']) {
      expect(
        badRequestMessage(() =>
          planCountQuery(rawQuery, DEVICE_SCORES, { surface: 'beta', accepted }),
        ),
      ).toContain('is not supported on this request');
    }
  });
});
