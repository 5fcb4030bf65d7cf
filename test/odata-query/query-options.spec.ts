import { parseOrderBy } from '../../src/odata/query/orderby.js';
import { parseCount, parseSkip, parseTop } from '../../src/odata/query/paging-options.js';
import { parseSearch, type SearchNode } from '../../src/odata/query/search-parser.js';
import { parseSelect } from '../../src/odata/query/select.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

describe('parseOrderBy', () => {
  const orderBy = (text: string) =>
    parseOrderBy(text, DEVICE_SCORES, 'beta').map((item) => `${item.property} ${item.direction}`);

  it.each([
    ['deviceName', ['deviceName ASC']],
    ['endpointAnalyticsScore desc', ['endpointAnalyticsScore DESC']],
    ['endpointAnalyticsScore DESC', ['endpointAnalyticsScore DESC']],
    ['deviceName asc,model desc', ['deviceName ASC', 'model DESC']],
    [' DeviceName  Asc ,  MODEL\tdesc ', ['deviceName ASC', 'model DESC']],
    ['healthStatus,id desc', ['healthStatus ASC', 'id DESC']],
  ])('parses %j', (text, expected) => {
    expect(orderBy(text)).toEqual(expected);
  });

  it.each([
    [
      'endpointAnalyticsScore sideways',
      "Invalid $orderby at position 23: expected asc or desc after 'endpointAnalyticsScore', but found 'sideways'.",
    ],
    [
      'CASE WHEN (SELECT 1)=1 THEN deviceName ELSE model END',
      "Invalid $orderby at position 0: 'CASE' is not a property of microsoft.graph.userExperienceAnalyticsDeviceScores.",
    ],
    [
      '(SELECT pg_sleep(5))',
      "Invalid $orderby at position 0: expected a property name, but found '('.",
    ],
    [
      'deviceName DESC; DELETE FROM device_scores',
      "Invalid $orderby at position 15: expected asc, desc, ',' or the end of the value after 'deviceName', but found ';'.",
    ],
    ['deviceName WHEN', "expected asc or desc after 'deviceName', but found 'WHEN'."],
    ['colour', "Invalid $orderby at position 0: 'colour' is not a property of"],
    [
      'deviceName,',
      'Invalid $orderby at position 11: expected a property name, but found the end of the value.',
    ],
    [
      '',
      'Invalid $orderby at position 0: expected a property name, but found the end of the value.',
    ],
    ['deviceName desc desc', "found 'd'"],
    [
      'deviceName,deviceName desc',
      "Invalid $orderby at position 11: 'deviceName' is listed more than once.",
    ],
    ['tolower(deviceName)', "'tolower' is not a property of"],
    ['deviceName/x', "found '/'"],
    ['deviceNamedesc', "'deviceNamedesc' is not a property of"],
  ])('rejects %j', (text, expected) => {
    expect(badRequestMessage(() => parseOrderBy(text, DEVICE_SCORES, 'beta'))).toContain(expected);
  });

  it('rejects a beta-only property on v1.0', () => {
    expect(
      badRequestMessage(() => parseOrderBy('meanResourceSpikeTimeScore', DEVICE_SCORES, 'v1.0')),
    ).toContain("'meanResourceSpikeTimeScore' is not a property of");
  });
});

describe('parseSelect', () => {
  const select = (text: string) => parseSelect(text, DEVICE_SCORES, 'beta');

  it.each([
    ['deviceName,endpointAnalyticsScore', ['deviceName', 'endpointAnalyticsScore']],
    ['DeviceName,EndpointAnalyticsScore', ['deviceName', 'endpointAnalyticsScore']],
    ['healthStatus, id ,deviceName', ['healthStatus', 'id', 'deviceName']],
    ['model,MODEL,model', ['model']],
    ['*', undefined],
    ['deviceName,*', undefined],
  ])('parses %j', (text, expected) => {
    expect(select(text)).toEqual(expected);
  });

  it.each([
    [
      'deviceName,colour',
      "Invalid $select at position 11: 'colour' is not a property of microsoft.graph.userExperienceAnalyticsDeviceScores.",
    ],
    ['', 'Invalid $select at position 0: expected a property name or *.'],
    ['deviceName,,model', 'Invalid $select at position 11: expected a property name or *.'],
    [
      'deviceName/x',
      "'deviceName/x' is not a property name; only property names and * are allowed.",
    ],
    ['count(*)', 'is not a property name'],
  ])('rejects %j', (text, expected) => {
    expect(badRequestMessage(() => select(text))).toContain(expected);
  });

  it('rejects a beta-only property on v1.0', () => {
    expect(
      badRequestMessage(() => parseSelect('meanResourceSpikeTimeScore', DEVICE_SCORES, 'v1.0')),
    ).toContain('is not a property of');
  });
});

describe('parseTop and parseSkip', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['007', 7],
    ['2147483647', 2147483647],
    ['0000000000002147483647', 2147483647],
  ])('accepts %j', (text, expected) => {
    expect(parseTop(text)).toBe(expected);
    expect(parseSkip(text)).toBe(expected);
  });

  it.each([
    '',
    '-1',
    '-0',
    '+1',
    ' 1',
    '1 ',
    '1.5',
    '1e3',
    'abc',
    '0x10',
    '2147483648',
    '9007199254740993',
    '١',
  ])('rejects %j', (text) => {
    expect(badRequestMessage(() => parseTop(text))).toMatch(/^Invalid \$top: /);
    expect(badRequestMessage(() => parseSkip(text))).toMatch(/^Invalid \$skip: /);
  });

  it('names the allowed range', () => {
    expect(badRequestMessage(() => parseTop('abc'))).toBe(
      "Invalid $top: expected a whole number from 0 to 2147483647, but found 'abc'.",
    );
    expect(badRequestMessage(() => parseSkip('9007199254740993'))).toBe(
      'Invalid $skip: 9007199254740993 is larger than the maximum of 2147483647.',
    );
  });
});

describe('parseCount', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['false', false],
    ['False', false],
  ])('parses %j', (text, expected) => {
    expect(parseCount(text)).toBe(expected);
  });

  it.each(['', '1', 'yes', ' true'])('rejects %j', (text) => {
    expect(badRequestMessage(() => parseCount(text))).toContain(
      'Invalid $count: expected true or false',
    );
  });
});

describe('parseSearch', () => {
  function show(node: SearchNode): string {
    switch (node.kind) {
      case 'term':
        return JSON.stringify(node.text);
      case 'and':
      case 'or':
        return `(${node.kind} ${node.operands.map(show).join(' ')})`;
      case 'not':
        return `(not ${show(node.operand)})`;
    }
  }
  const search = (text: string) => show(parseSearch(text));

  it.each([
    ['pc', '"pc"'],
    ['PC-A contoso', '(and "PC-A" "contoso")'],
    ['a AND b', '(and "a" "b")'],
    ['a OR b c', '(or "a" (and "b" "c"))'],
    ['a b OR c', '(or (and "a" "b") "c")'],
    ['NOT a b', '(and (not "a") "b")'],
    ['NOT (a OR b)', '(not (or "a" "b"))'],
    ['(a OR b) AND c', '(and (or "a" "b") "c")'],
    ['a and b', '(and "a" "and" "b")'],
    ['"quoted phrase" OR x', '(or "quoted phrase" "x")'],
    ['"say \\"hi\\" \\\\ bye"', '"say \\"hi\\" \\\\ bye"'],
    ['"AND"', '"AND"'],
    ['NOT NOT a', '(not (not "a"))'],
  ])('parses %j', (text, expected) => {
    expect(search(text)).toBe(expected);
  });

  it.each([
    ['', 'Invalid $search at position 0: expected a search term.'],
    ['"open', 'Invalid $search at position 0: the quoted phrase is not closed; end it with ".'],
    ['a "b', 'position 2: the quoted phrase is not closed'],
    ['(a OR b', "Invalid $search at position 7: expected ')' to close the '(' at position 0."],
    ['a OR b)', "Invalid $search at position 6: found ')' without a matching '('."],
    [
      'a AND',
      'Invalid $search at position 5: expected a search term, but found the end of the expression.',
    ],
    ['OR a', "Invalid $search at position 0: expected a search term, but found 'OR'."],
    ['NOT', 'expected a search term, but found the end of the expression.'],
    ['()', "expected a search term, but found ')'."],
    ['""', 'a quoted phrase must not be empty.'],
    [
      '"a\\b"',
      'Invalid $search at position 2: inside a quoted phrase a backslash must be followed by " or \\.',
    ],
  ])('rejects %j', (text, expected) => {
    expect(badRequestMessage(() => parseSearch(text))).toContain(expected);
  });

  it.each([
    ['deep parentheses', `${'('.repeat(8000)}a${')'.repeat(8000)}`, 'maximum of 50 levels'],
    ['NOT chain', `${'NOT '.repeat(4000)}a`, 'maximum of 50 levels'],
    ['many terms', 'a '.repeat(8000), 'maximum of 1000 terms and operators'],
    ['oversized', 'a'.repeat(16385), 'maximum of 16384 bytes'],
  ])('rejects the worst case: %s', (_, text, expected) => {
    expect(badRequestMessage(() => parseSearch(text))).toContain(expected);
  });

  it('accepts a single phrase at the size limit', () => {
    expect(parseSearch(`"${'x'.repeat(16382)}"`)).toMatchObject({ kind: 'term' });
  });
});
