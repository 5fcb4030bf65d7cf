import type { FilterNode } from '../../src/odata/query/filter-ast.js';
import { tokenizeFilter } from '../../src/odata/query/lexer.js';
import { parseFilter } from '../../src/odata/query/parser.js';
import { badRequestMessage } from './device-scores-fixture.js';

/** Prints a tree as an S-expression, so expected trees fit on one line. */
function show(node: FilterNode): string {
  switch (node.kind) {
    case 'null':
      return 'null';
    case 'boolean':
    case 'number':
      return String(node.value);
    case 'string':
      return `'${node.value}'`;
    case 'guid':
      return `guid:${node.value}`;
    case 'enum':
      return `${node.typeName}'${node.member}'`;
    case 'property':
      return node.name;
    case 'binary':
      return `(${node.operator} ${show(node.left)} ${show(node.right)})`;
    case 'unary':
      return `(${node.operator === 'not' ? 'not' : '-'} ${show(node.operand)})`;
    case 'in':
      return `(in ${show(node.operand)} [${node.items.map(show).join(' ')}])`;
    case 'call':
      return `(${node.name} ${node.args.map(show).join(' ')})`;
  }
}

const parse = (text: string) => show(parseFilter(text));

describe('tokenizeFilter', () => {
  it('reads literals with their offsets', () => {
    const tokens = tokenizeFilter("a eq 'it''s' or b in (5.0e+1, -2, -INF)");

    expect(tokens.map((token) => token.kind)).toEqual([
      'identifier',
      'identifier',
      'string',
      'identifier',
      'identifier',
      'identifier',
      'openParen',
      'number',
      'comma',
      'number',
      'comma',
      'number',
      'closeParen',
      'end',
    ]);
    expect(tokens[2]).toEqual({ kind: 'string', value: "it's", start: 5, end: 12 });
    expect(tokens[7]).toMatchObject({ kind: 'number', value: 50 });
    expect(tokens[9]).toMatchObject({ kind: 'number', value: -2 });
    expect(tokens[11]).toMatchObject({ kind: 'number', value: -Infinity });
  });

  it('reads GUIDs, including those that start with a letter', () => {
    const tokens = tokenizeFilter('id eq ABCDEF01-0000-4000-8000-00000000000A');

    expect(tokens[2]).toMatchObject({
      kind: 'guid',
      value: 'abcdef01-0000-4000-8000-00000000000a',
    });
  });

  it('reads a qualified enum literal as one token', () => {
    const tokens = tokenizeFilter(
      "microsoft.graph.userExperienceAnalyticsHealthState'meetingGoals'",
    );

    expect(tokens[0]).toMatchObject({
      kind: 'enum',
      typeName: 'microsoft.graph.userExperienceAnalyticsHealthState',
      member: 'meetingGoals',
    });
  });
});

describe('parseFilter', () => {
  it.each([
    ["deviceName eq 'PC-A'", "(eq deviceName 'PC-A')"],
    ["deviceName eq 'Lab''s-PC'", "(eq deviceName 'Lab's-PC')"],
    ["deviceName eq 'x'' or ''1''=''1'", "(eq deviceName 'x' or '1'='1')"],
    ["deviceName EQ ''", "(eq deviceName '')"],
    ['endpointAnalyticsScore ge 5E1', '(ge endpointAnalyticsScore 50)'],
    ['endpointAnalyticsScore ge 5.0e+1', '(ge endpointAnalyticsScore 50)'],
    ['endpointAnalyticsScore gt -1E0', '(gt endpointAnalyticsScore -1)'],
    ['s gt -2E+10', '(gt s -20000000000)'],
    ['s lt 1.5e-3', '(lt s 0.0015)'],
    ['s eq NaN or s eq INF or s eq -INF', '(or (or (eq s NaN) (eq s Infinity)) (eq s -Infinity))'],
    ['TRUE', 'true'],
    ['False eq false', '(eq false false)'],
    ['deviceName eq null', '(eq deviceName null)'],
    ["healthStatus eq 'meetingGoals'", "(eq healthStatus 'meetingGoals')"],
    [
      "healthStatus eq microsoft.graph.userExperienceAnalyticsHealthState'meetingGoals'",
      "(eq healthStatus microsoft.graph.userExperienceAnalyticsHealthState'meetingGoals')",
    ],
    [
      'id eq 00000000-0000-4000-8000-00000000000a',
      '(eq id guid:00000000-0000-4000-8000-00000000000a)',
    ],
    ["deviceName in ('Lab''s-PC','PC-A')", "(in deviceName ['Lab's-PC' 'PC-A'])"],
    ['a eq 1 or b eq 2 and c eq 3', '(or (eq a 1) (and (eq b 2) (eq c 3)))'],
    ['(a eq 1 or b eq 2) and c eq 3', '(and (or (eq a 1) (eq b 2)) (eq c 3))'],
    ['a add b mul c sub d', '(sub (add a (mul b c)) d)'],
    ['a div b mod c', '(mod (div a b) c)'],
    ['a sub b sub c', '(sub (sub a b) c)'],
    ['- a mul b', '(mul (- a) b)'],
    ['-a eq 1', '(eq (- a) 1)'],
    ['not a eq b', '(eq (not a) b)'],
    ['not (a eq b)', '(not (eq a b))'],
    ['NOT(a eq b)', '(not (eq a b))'],
    ['not not a', '(not (not a))'],
    ['a add 1 gt b in (1, 2)', '(in (gt (add a 1) b) [1 2])'],
    ['a in (1) eq true', '(eq (in a [1]) true)'],
    [
      "contains(deviceName,'PC') and startswith(model, 'M')",
      "(and (contains deviceName 'PC') (startswith model 'M'))",
    ],
    ["CONTAINS(tolower(deviceName), 'pc')", "(contains (tolower deviceName) 'pc')"],
    ['length(trim(deviceName)) gt 3', '(gt (length (trim deviceName)) 3)'],
    ["substring(deviceName, 1, 2) eq 'C-'", "(eq (substring deviceName 1 2) 'C-')"],
    ["indexof(concat(model, 'x'), 'x') ge 0", "(ge (indexof (concat model 'x') 'x') 0)"],
    ["deviceName eq'x'", "(eq deviceName 'x')"],
    ['\ta\teq\t1 ', '(eq a 1)'],
  ])('parses %j', (text, expected) => {
    expect(parse(text)).toBe(expected);
  });

  it('keeps source offsets on every node', () => {
    const node = parseFilter("not deviceName eq 'x'");

    expect(node).toMatchObject({ kind: 'binary', start: 0, end: 21 });
    expect(node).toMatchObject({ left: { kind: 'unary', start: 0, end: 14 } });
  });

  it.each([
    [
      'deviceName eq',
      "Invalid $filter at position 13: expected a value after 'eq', but found the end of the expression.",
    ],
    ['', 'Invalid $filter at position 0: expected an expression.'],
    [
      "deviceName eq 'Lab's-PC'",
      "Invalid $filter at position 19: expected an operator or the end of the expression, but found 's'. To put a quote inside a string literal, write it twice ('').",
    ],
    [
      "deviceName eq 'abc",
      "Invalid $filter at position 14: the string literal is not closed; end it with ' and write a quote inside it as ''.",
    ],
    [
      'endpointAnalyticsScore ge 5E',
      "Invalid $filter at position 28: expected digits in the exponent of '5E'.",
    ],
    ['s ge 5.', "Invalid $filter at position 7: expected a digit after the decimal point in '5.'."],
    ['s ge 5d', "Invalid $filter at position 6: unexpected character 'd' after the number '5'."],
    [
      's ge 1e400',
      "Invalid $filter at position 5: the number '1e400' is outside the range of Edm.Double.",
    ],
    [
      '(a eq 1',
      "Invalid $filter at position 7: expected ')' to close the '(' at position 0, but found the end of the expression.",
    ],
    ['a eq 1)', "Invalid $filter at position 6: found ')' without a matching '('."],
    [
      'a eq 1 2',
      "Invalid $filter at position 7: expected an operator or the end of the expression, but found '2'.",
    ],
    ['a eq and', "Invalid $filter at position 5: expected a value, but found the operator 'and'."],
    [
      'a in 1',
      "Invalid $filter at position 5: expected '(' and a list of values after 'in', but found '1'.",
    ],
    [
      'a in ()',
      "Invalid $filter at position 5: expected at least one value in the list after 'in'.",
    ],
    ['a in (1,)', "Invalid $filter at position 8: expected a value after ',', but found ')'."],
    [
      'a in (1 2)',
      "Invalid $filter at position 8: expected ',' or ')' to continue the list opened at position 5, but found '2'.",
    ],
    ['round(a) eq 1', "Invalid $filter at position 0: unknown function 'round'."],
    [
      'a eq "x"',
      "Invalid $filter at position 5: unexpected character '\"'; string literals use single quotes.",
    ],
    [
      'a/b eq 1',
      "Invalid $filter at position 1: unexpected character '/'; navigation paths are not supported.",
    ],
    ['$it eq 1', "Invalid $filter at position 0: unexpected character '$'."],
    [
      'not',
      "Invalid $filter at position 3: expected a value after 'not', but found the end of the expression.",
    ],
    [
      'a eq -',
      "Invalid $filter at position 6: expected a value after '-', but found the end of the expression.",
    ],
    [
      'contains(a,',
      "Invalid $filter at position 11: expected a value after ',', but found the end of the expression.",
    ],
  ])('rejects %j', (text, expected) => {
    expect(badRequestMessage(() => parseFilter(text))).toContain(expected);
  });

  it('hints at %2B after a decoded +', () => {
    // '$filter=endpointAnalyticsScore+gt+1.5E+2' with every + decoded to a space.
    const text = 'endpointAnalyticsScore gt 1.5E 2';
    const message = badRequestMessage(() => parseFilter(text, [22, 25, 30]));

    expect(message).toContain("position 30: expected digits in the exponent of '1.5E'.");
    expect(message).toContain('a literal plus sign must be sent as %2B');
  });

  it('hints at %2B for the next token', () => {
    const message = badRequestMessage(() => parseFilter('a eq 1 2', [6]));

    expect(message).toContain('%2B');
  });

  it('omits the hint away from a +', () => {
    const message = badRequestMessage(() => parseFilter('a eq', [1]));

    expect(message).not.toContain('%2B');
  });
});

describe('parseFilter limits', () => {
  const nested = (depth: number) => `${'('.repeat(depth)}a eq 1${')'.repeat(depth)}`;

  it('accepts 50 levels of parentheses', () => {
    expect(parse(nested(50))).toBe('(eq a 1)');
  });

  it('rejects 51 levels of parentheses, naming the limit', () => {
    expect(badRequestMessage(() => parseFilter(nested(51)))).toContain(
      'nests deeper than the maximum of 50 levels',
    );
  });

  it('counts not, minus and function calls as nesting', () => {
    expect(badRequestMessage(() => parseFilter(`${'not '.repeat(51)}true`))).toContain(
      'maximum of 50 levels',
    );
    expect(badRequestMessage(() => parseFilter(`a eq ${'- '.repeat(51)}1`))).toContain(
      'maximum of 50 levels',
    );
    expect(
      badRequestMessage(() => parseFilter(`${'tolower('.repeat(51)}a${')'.repeat(51)} eq 'a'`)),
    ).toContain('maximum of 50 levels');
    expect(parse(`${'not '.repeat(50)}true`)).toMatch(/^\(not /);
  });

  it('accepts an in list of 900 values', () => {
    const list = Array.from({ length: 900 }, (_, index) => `'PC-${index}'`).join(',');
    const node = parseFilter(`deviceName in (${list})`);

    expect(node.kind).toBe('in');
    expect(node.kind === 'in' ? node.items : []).toHaveLength(900);
  });

  it('rejects more than 1000 nodes, naming the limit', () => {
    const list = Array.from({ length: 1000 }, (_, index) => String(index)).join(',');

    expect(badRequestMessage(() => parseFilter(`a in (${list})`))).toContain(
      'more than the maximum of 1000 nodes',
    );
  });

  it('rejects a filter over 16384 bytes before parsing, naming the limit', () => {
    const text = `deviceName eq '${'x'.repeat(16384)}'`;

    expect(badRequestMessage(() => parseFilter(text))).toBe(
      `Invalid $filter: the value is ${text.length} bytes long, more than the maximum of 16384 bytes.`,
    );
  });

  it('counts the limit in UTF-8 bytes', () => {
    const text = `deviceName eq '${'é'.repeat(8190)}'`;

    expect(text.length).toBeLessThan(16384);
    expect(badRequestMessage(() => parseFilter(text))).toContain('maximum of 16384 bytes');
  });

  // Worst cases at the size limit: each must end in a result or a 400, never hang or overflow.
  const worstCases: [string, string, 'accepted' | 'rejected'][] = [
    ['deep parentheses', `${'('.repeat(8000)}a${')'.repeat(8000)}`, 'rejected'],
    ['unclosed parentheses', '('.repeat(16000), 'rejected'],
    ['not chain', `${'not '.repeat(4000)}true`, 'rejected'],
    ['minus chain', `a eq ${'-'.repeat(16000)}1`, 'rejected'],
    ['nested calls', `${'tolower('.repeat(1800)}a${')'.repeat(1800)} eq 'a'`, 'rejected'],
    [
      'in list of 900 values',
      `deviceName in (${Array.from({ length: 900 }, (_, index) => `'${String(index).padStart(12, '0')}'`).join(',')})`,
      'accepted',
    ],
    ['in list of 4000 values', `a in (${'1,'.repeat(4000)}1)`, 'rejected'],
    ['long or chain', Array.from({ length: 1400 }, () => 'a eq 1').join(' or '), 'rejected'],
    ['long add chain', `a eq ${Array.from({ length: 499 }, () => '1').join(' add ')}`, 'accepted'],
    ['quote escapes', `a eq '${"''".repeat(8000)}'`, 'accepted'],
    ['one long name', `${'a'.repeat(16000)} eq 1`, 'accepted'],
    ['one long number', `a eq ${'1'.repeat(300)}.${'1'.repeat(15000)}`, 'accepted'],
    ['many commas', `contains(${','.repeat(16000)})`, 'rejected'],
    [
      'alternating parentheses and not',
      `${'(not '.repeat(2700)}true${')'.repeat(2700)}`,
      'rejected',
    ],
  ];

  it.each(worstCases)('handles the worst case: %s', (_, text, outcome) => {
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16384);
    let accepted = true;
    try {
      parseFilter(text);
    } catch (error) {
      expect((error as { status?: number }).status).toBe(400);
      accepted = false;
    }

    expect(accepted ? 'accepted' : 'rejected').toBe(outcome);
  });
});
