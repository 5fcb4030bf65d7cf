import { randomBytes } from 'node:crypto';

import {
  compileKeysetCondition,
  decodeSkiptoken,
  encodeSkiptoken,
} from '../../src/odata/query/skiptoken.js';
import { compileOrderBy, type OrderColumn } from '../../src/odata/query/sql-compiler.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const SCOPE = 'tenant-1|beta|userExperienceAnalyticsDeviceScores|digest';
const ID = '00000000-0000-4000-8000-00000000000a';

const ORDER: OrderColumn[] = compileOrderBy(
  [
    { property: 'deviceName', direction: 'DESC' },
    { property: 'endpointAnalyticsScore', direction: 'ASC' },
    { property: 'healthStatus', direction: 'ASC' },
  ],
  DEVICE_SCORES,
);

describe('skiptoken encoding', () => {
  it('round-trips the values', () => {
    const values = ["Lab's-PC {é}", 87.5, 3, ID];
    const token = encodeSkiptoken(values, SECRET, SCOPE);

    expect(decodeSkiptoken(token, SECRET, SCOPE, ORDER)).toEqual(values);
  });

  it('round-trips a null in a nullable column', () => {
    const token = encodeSkiptoken([null, -1, 0, ID], SECRET, SCOPE);

    expect(decodeSkiptoken(token, SECRET, SCOPE, ORDER)).toEqual([null, -1, 0, ID]);
  });

  it('uses only base64url characters without padding', () => {
    for (let round = 0; round < 50; round += 1) {
      const token = encodeSkiptoken(
        [randomBytes(20).toString('latin1'), round / 7, round % 5, ID],
        SECRET,
        SCOPE,
      );

      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  const token = encodeSkiptoken(['PC-A', 87.5, 3, ID], SECRET, SCOPE);
  const flip = (text: string, index: number) =>
    text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);

  it.each([
    ['a flipped first character', flip(token, 0)],
    ['a flipped MAC character', flip(token, 10)],
    ['a flipped payload character', flip(token, token.length - 5)],
    ['a flipped last character', flip(token, token.length - 1)],
    ['a truncated token', token.slice(0, -4)],
    ['a token cut to the MAC', token.slice(0, 44)],
    ['an extended token', `${token}AAAA`],
    ['padding', `${token}==`],
    ['standard base64 characters', token.replace(/-/g, '+').replace(/_/g, '/') + '+/'],
    ['garbage', 'not a token'],
    ['an empty token', ''],
    ['braces', '{skiptoken}'],
  ])('rejects %s', (_, tampered) => {
    expect(badRequestMessage(() => decodeSkiptoken(tampered, SECRET, SCOPE, ORDER))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it('rejects a token from another scope', () => {
    expect(badRequestMessage(() => decodeSkiptoken(token, SECRET, `${SCOPE}x`, ORDER))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it('rejects a token signed with another secret', () => {
    const other = Buffer.from('fedcba9876543210fedcba9876543210');

    expect(badRequestMessage(() => decodeSkiptoken(token, other, SCOPE, ORDER))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it.each([
    ['too few values', ['PC-A', 87.5, ID]],
    ['too many values', ['PC-A', 87.5, 3, ID, 1]],
    ['a number for a string', [5, 87.5, 3, ID]],
    ['a string for a double', ['PC-A', '87.5', 3, ID]],
    ['null for a NOT NULL double', ['PC-A', null, 3, ID]],
    ['a fraction for an enum', ['PC-A', 87.5, 2.5, ID]],
    ['a string for an enum', ['PC-A', 87.5, 'meetingGoals', ID]],
    ['a malformed GUID', ['PC-A', 87.5, 3, 'zzz']],
    ['an upper-case GUID', ['PC-A', 87.5, 3, ID.toUpperCase()]],
    ['an object', ['PC-A', 87.5, 3, { id: ID }]],
  ])('rejects a correctly signed token with %s', (_, values) => {
    const signed = encodeSkiptoken(values, SECRET, SCOPE);

    expect(badRequestMessage(() => decodeSkiptoken(signed, SECRET, SCOPE, ORDER))).toMatch(
      /^Invalid \$skiptoken/,
    );
  });

  it('requires a secret of at least 16 bytes', () => {
    expect(() => encodeSkiptoken([ID], Buffer.from('short'), SCOPE)).toThrow('at least 16 bytes');
  });
});

describe('compileKeysetCondition', () => {
  it('expands mixed directions with null checks', () => {
    const { sql, params } = compileKeysetCondition(ORDER, ['PC-B', 9.5, 2, ID], 'ds', 'k');

    expect(sql).toBe(
      '(((ds.device_name < CAST(:k_0 AS text) OR ds.device_name IS NULL))' +
        ' OR (ds.device_name = CAST(:k_0 AS text) AND ds.endpoint_analytics_score > CAST(:k_1 AS double precision))' +
        ' OR (ds.device_name = CAST(:k_0 AS text) AND ds.endpoint_analytics_score = CAST(:k_1 AS double precision) AND ds.health_status > CAST(:k_2 AS smallint))' +
        ' OR (ds.device_name = CAST(:k_0 AS text) AND ds.endpoint_analytics_score = CAST(:k_1 AS double precision) AND ds.health_status = CAST(:k_2 AS smallint) AND ds.id > CAST(:k_3 AS uuid)))',
    );
    expect(params).toEqual({ k_0: 'PC-B', k_1: 9.5, k_2: 2, k_3: ID });
  });

  it('treats a null value as the last value descending', () => {
    const { sql, params } = compileKeysetCondition(
      ORDER.slice(0, 1).concat(ORDER[3]),
      [null, ID],
      'ds',
      'k',
    );

    expect(sql).toBe('((ds.device_name IS NULL AND ds.id > CAST(:k_0 AS uuid)))');
    expect(params).toEqual({ k_0: ID });
  });

  it('bounds the first column of a mixed order', () => {
    const order = compileOrderBy(
      [{ property: 'endpointAnalyticsScore', direction: 'DESC' }],
      DEVICE_SCORES,
    );
    const { sql, params } = compileKeysetCondition(order, [42.5, ID], 'ds', 'k');

    expect(sql).toBe(
      '(ds.endpoint_analytics_score <= CAST(:k_0 AS double precision) AND ' +
        '((ds.endpoint_analytics_score < CAST(:k_0 AS double precision))' +
        ' OR (ds.endpoint_analytics_score = CAST(:k_0 AS double precision) AND ds.id > CAST(:k_1 AS uuid))))',
    );
    expect(params).toEqual({ k_0: 42.5, k_1: ID });
  });

  it('bounds a nullable first column ascending from a non-null value', () => {
    const order = compileOrderBy(
      [
        { property: 'model', direction: 'ASC' },
        { property: 'endpointAnalyticsScore', direction: 'DESC' },
      ],
      DEVICE_SCORES,
    );
    const { sql } = compileKeysetCondition(order, ['M1', 10, ID], undefined, 'k');

    expect(sql.startsWith('(model >= CAST(:k_0 AS text) AND ((model > CAST(:k_0 AS text))')).toBe(
      true,
    );
  });

  it('treats a null value as the first value ascending', () => {
    const order = compileOrderBy([{ property: 'model', direction: 'ASC' }], DEVICE_SCORES);
    const { sql } = compileKeysetCondition(order, [null, ID], undefined, 'k');

    expect(sql).toBe('((model IS NOT NULL) OR (model IS NULL AND id > CAST(:k_0 AS uuid)))');
  });

  it('uses a row comparison for NOT NULL columns', () => {
    const order = compileOrderBy(
      [{ property: 'endpointAnalyticsScore', direction: 'ASC' }],
      DEVICE_SCORES,
    );
    const { sql, params } = compileKeysetCondition(order, [50, ID], 'ds', 'k');

    expect(sql).toBe(
      '((ds.endpoint_analytics_score, ds.id) > (CAST(:k_0 AS double precision), CAST(:k_1 AS uuid)))',
    );
    expect(params).toEqual({ k_0: 50, k_1: ID });
  });

  it('uses a row comparison descending', () => {
    const order = compileOrderBy([{ property: 'id', direction: 'DESC' }], DEVICE_SCORES);

    expect(compileKeysetCondition(order, [ID], 'ds', 'k').sql).toBe(
      '((ds.id) < (CAST(:k_0 AS uuid)))',
    );
  });
});
