import {
  findCustomOption,
  serializeQueryOptions,
  splitQueryString,
} from '../../src/odata/query/query-string.js';
import { badRequestMessage } from './device-scores-fixture.js';

const LIST = new Set([
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
  'skiptoken',
]);

function values(rawQuery: string, accepted: ReadonlySet<string> = LIST): Record<string, string> {
  const options = splitQueryString(rawQuery, accepted);

  return Object.fromEntries(Object.entries(options).map(([name, option]) => [name, option.value]));
}

describe('splitQueryString', () => {
  it.each([
    ['', {}],
    ['?', {}],
    ['$top=1', { top: '1' }],
    ['?$top=1', { top: '1' }],
    ['$TOP=1', { top: '1' }],
    ['top=1', { top: '1' }],
    ['%24filter=a%20eq%201', { filter: 'a eq 1' }],
    ['$Filter=a+eq+1', { filter: 'a eq 1' }],
    ['$filter=score%20gt%201.5E%2B2', { filter: 'score gt 1.5E+2' }],
    ['$orderby=endpointAnalyticsScore+desc', { orderby: 'endpointAnalyticsScore desc' }],
    ['$filter=a%3Db=c', { filter: 'a=b=c' }],
    ['$filter=a=b', { filter: 'a=b' }],
    ['$count', { count: '' }],
    ['$top=', { top: '' }],
    ['&&$top=2&', { top: '2' }],
    ['api-version=2&foo=bar&$top=3', { top: '3' }],
    ['$filter=deviceName%20eq%20%27Z%C3%BCrich%27', { filter: "deviceName eq 'Zürich'" }],
    ['$filter=%EF%BB%BFx', { filter: '\uFEFFx' }],
    ["$filter=deviceName eq 'Lab''s-PC'", { filter: "deviceName eq 'Lab''s-PC'" }],
  ])('splits %j', (rawQuery, expected) => {
    expect(values(rawQuery)).toEqual(expected);
  });

  it('records where a + became a space', () => {
    const options = splitQueryString('$filter=a+gt+1.5E+2', LIST);

    expect(options.filter?.value).toBe('a gt 1.5E 2');
    expect(options.filter?.plusOffsets).toEqual([1, 4, 9]);
    expect(options.filter?.spelling).toBe('$filter');
  });

  it.each([
    ['$top=1&$top=3', '$top is specified more than once'],
    ['$top=1&top=3', "(as '$top' and 'top')"],
    ['$filter=a&%24FILTER=b', '$filter is specified more than once'],
    ['$TOP=1&$top=1', '$top is specified more than once'],
  ])('rejects the repeated option in %j', (rawQuery, expected) => {
    expect(badRequestMessage(() => splitQueryString(rawQuery, LIST))).toContain(expected);
  });

  it.each([
    ['$foo=1', "'$foo' is not supported"],
    ['$=1', "'$' is not supported"],
    ['$expand=x', '$expand is not supported'],
    ['expand=x', '$expand is not supported'],
    ['$apply=groupby((a))', 'The query option $apply is not supported on this request.'],
    ['$format=xml', "Invalid $format: 'xml' is not supported"],
    ['$filter=%zz', "'%zz' is not a valid percent-encoding"],
    ['$filter=abc%', "'%' is not a valid percent-encoding"],
    ['$filter=%4', "'%4' is not a valid percent-encoding"],
    ['$filter=%C3', 'not valid UTF-8'],
    ['$filter=%C3%28', 'not valid UTF-8'],
    ['$filter=%ED%A0%80', 'not valid UTF-8'],
    ['$filter=%C0%AF', 'not valid UTF-8'],
    ['%zz=1', 'not a valid percent-encoding'],
  ])('rejects %j', (rawQuery, expected) => {
    expect(badRequestMessage(() => splitQueryString(rawQuery, LIST))).toContain(expected);
  });

  it('reports the position of a malformed escape in the query string', () => {
    expect(badRequestMessage(() => splitQueryString('$top=1&$filter=a%g1', LIST))).toBe(
      "Invalid query string at position 16: '%g1' is not a valid percent-encoding; send '%' as %25.",
    );
  });

  it('rejects an option the request does not take, naming it', () => {
    const accepted = new Set(['select']);

    expect(badRequestMessage(() => splitQueryString('$select=id&$filter=x', accepted))).toBe(
      'The query option $filter is not supported on this request.',
    );
    expect(badRequestMessage(() => splitQueryString('$orderby=id', new Set()))).toContain(
      '$orderby',
    );
  });

  it('accepts $apply where the request takes it', () => {
    expect(values('$apply=groupby((a))', new Set(['apply']))).toEqual({ apply: 'groupby((a))' });
  });

  it('accepts $format=json on any request', () => {
    expect(values('$format=json', new Set())).toEqual({ format: 'json' });
    expect(values('$format=JSON', new Set())).toEqual({ format: 'JSON' });
  });

  it('ignores unknown options without a dollar', () => {
    expect(values('colour=red&filterx=1', new Set())).toEqual({});
  });
});

describe('findCustomOption', () => {
  it('finds a custom option in any case and decodes it once', () => {
    expect(
      findCustomOption('$top=1&IncludeUnavailableScores=TRUE', 'includeUnavailableScores'),
    ).toBe('TRUE');
    expect(findCustomOption('name=a+b%2B', 'name')).toBe('a b+');
    expect(findCustomOption('name', 'name')).toBe('');
  });

  it('returns undefined when the option is absent', () => {
    expect(findCustomOption('$top=1&other=1', 'name')).toBeUndefined();
  });

  it('rejects a repeated custom option', () => {
    expect(badRequestMessage(() => findCustomOption('name=1&NAME=2', 'name'))).toBe(
      "The query option name is specified more than once (as 'name' and 'NAME').",
    );
  });
});

describe('serializeQueryOptions', () => {
  it('writes canonical $name=value pairs in a fixed order', () => {
    const query = serializeQueryOptions({
      top: '2',
      filter: "deviceName eq 'a+b&c'",
      orderby: 'deviceName desc',
    });

    expect(query).toBe("$filter=deviceName%20eq%20'a%2Bb%26c'&$orderby=deviceName%20desc&$top=2");
  });

  it('encodes braces, so a link never looks like a URI template', () => {
    const query = serializeQueryOptions({ search: '"{x}" 100%' });

    expect(query).toBe('$search=%22%7Bx%7D%22%20100%25');
    expect(query).not.toMatch(/[{} ]/);
  });

  it('round-trips through splitQueryString', () => {
    const original = {
      filter: "contains(deviceName, 'a+b&c=d%') and model eq 'é ''x'''",
      search: '"quoted \\" phrase" OR word',
      top: '5',
    };

    expect(values(serializeQueryOptions(original))).toEqual(original);
  });
});
