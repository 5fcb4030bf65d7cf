import { bindFilter } from '../../src/odata/query/binder.js';
import type { BoundExpression } from '../../src/odata/query/bound-expression.js';
import type { Surface } from '../../src/odata/query/entity-model.js';
import { parseFilter } from '../../src/odata/query/parser.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

function bind(text: string, surface: Surface = 'beta'): BoundExpression {
  return bindFilter(parseFilter(text), DEVICE_SCORES, surface, text);
}

const ENUM = 'microsoft.graph.userExperienceAnalyticsHealthState';

describe('bindFilter', () => {
  it('resolves property names case-insensitively to canonical names', () => {
    const bound = bind("DEVICENAME eq 'x'");

    expect(bound).toMatchObject({
      kind: 'comparison',
      left: { kind: 'property', property: { name: 'deviceName', column: 'device_name' } },
      right: { kind: 'constant', type: 'string', value: 'x' },
    });
  });

  it.each([
    ["healthStatus eq 'needsAttention'", 2],
    ["healthStatus eq 'MEETINGGOALS'", 3],
    [`healthStatus eq ${ENUM}'unknown'`, 0],
    [`healthStatus eq microsoft.Graph.UserExperienceAnalyticsHealthState'insufficientData'`, 1],
    ["'meetingGoals' eq healthStatus", 3],
  ])('binds the enum member in %j to its stored value', (text, value) => {
    const bound = bind(text);
    const constant =
      bound.kind === 'comparison' && (bound.right.kind === 'constant' ? bound.right : bound.left);

    expect(constant).toMatchObject({ kind: 'constant', type: 'enum', value });
  });

  it('binds every enum member of an in list', () => {
    const bound = bind(`healthStatus in ('unknown', ${ENUM}'needsAttention', null)`);

    expect(bound).toMatchObject({
      kind: 'in',
      items: [{ value: 0 }, { value: 2 }, { value: null, type: 'enum' }],
    });
  });

  it.each([
    ["id eq 'zzz'", false],
    ["id ne 'zzz'", true],
    ["id gt 'zzz'", false],
    ["'not-a-guid' eq id", false],
    ["id in ('zzz', 'also not')", false],
    ['endpointAnalyticsScore gt null', false],
    ['null lt endpointAnalyticsScore', false],
    ['null eq null', true],
    ['null ne null', false],
  ])('binds %j to the constant %s', (text, value) => {
    expect(bind(text)).toEqual({ kind: 'constant', type: 'boolean', nullable: false, value });
  });

  it('binds a quoted or unquoted GUID in lower case', () => {
    const quoted = bind("id eq 'ABCDEF01-0000-4000-8000-00000000000A'");
    const unquoted = bind('id eq ABCDEF01-0000-4000-8000-00000000000A');
    const expected = {
      kind: 'constant',
      type: 'guid',
      value: 'abcdef01-0000-4000-8000-00000000000a',
    };

    expect(quoted).toMatchObject({ kind: 'comparison', right: expected });
    expect(unquoted).toMatchObject({ kind: 'comparison', right: expected });
  });

  it('keeps valid GUIDs of an in list and drops the others', () => {
    const bound = bind("id in ('zzz', '00000000-0000-4000-8000-00000000000A')");

    expect(bound).toMatchObject({
      kind: 'in',
      items: [{ kind: 'constant', type: 'guid', value: '00000000-0000-4000-8000-00000000000a' }],
    });
  });

  it.each([
    ['deviceName eq null', false],
    ['null ne model', true],
  ])('binds %j to a null check', (text, negated) => {
    expect(bind(text)).toMatchObject({ kind: 'nullCheck', negated });
  });

  it('flattens and and or chains', () => {
    const term = (value: number) => `endpointAnalyticsScore eq ${value}`;
    const bound = bind(`${term(1)} or (${term(2)} or ${term(3)}) or ${term(4)}`);

    expect(bound).toMatchObject({ kind: 'logical', operator: 'or' });
    expect(bound.kind === 'logical' ? bound.operands : []).toHaveLength(4);
  });

  it('types function results', () => {
    expect(bind("contains(tolower(deviceName), 'pc')")).toMatchObject({
      kind: 'call',
      type: 'boolean',
    });
    expect(bind('length(deviceName) gt 3')).toMatchObject({
      kind: 'comparison',
      left: { kind: 'call', name: 'length', type: 'double', nullable: true },
    });
  });

  it('accepts a beta-only property on beta', () => {
    expect(bind('meanResourceSpikeTimeScore gt 1', 'beta')).toMatchObject({ kind: 'comparison' });
  });

  it.each([
    [
      "colour eq 'red'",
      "Invalid $filter at position 0: 'colour' is not a property of microsoft.graph.userExperienceAnalyticsDeviceScores.",
    ],
    ["deviceName eq 'x' and Colour eq 1", "position 22: 'Colour' is not a property of"],
    [
      'healthStatus eq 2',
      `Invalid $filter at position 16: ${ENUM} values are compared by member name, such as 'unknown', not by number.`,
    ],
    [
      "healthStatus eq 'notAState'",
      `Invalid $filter at position 16: 'notAState' is not a member of ${ENUM}. Expected one of: unknown, insufficientData, needsAttention, meetingGoals, unknownFutureValue.`,
    ],
    ["healthStatus in ('meetingGoals', 'bogus')", "position 33: 'bogus' is not a member of"],
    [
      "healthStatus eq microsoft.graph.otherState'meetingGoals'",
      'has type microsoft.graph.otherState, but the value compared with it has type',
    ],
    [
      'healthStatus eq deviceName',
      "'deviceName' is Edm.String, which cannot be compared with microsoft.graph.userExperienceAnalyticsHealthState.",
    ],
    [`${ENUM}'meetingGoals' eq 'meetingGoals'`, 'must be compared with a property of its type'],
    [
      "not deviceName eq 'x'",
      "Invalid $filter at position 0: 'not' applies only to a boolean, but 'deviceName' is Edm.String. 'not' binds tighter than comparisons, so write not (deviceName eq 'x').",
    ],
    ["not deviceName in ('a', 'b')", "so write not (deviceName in ('a', 'b'))."],
    ["NOT (deviceName) eq 'x'", "so write not ((deviceName) eq 'x')."],
    [
      'not endpointAnalyticsScore add 1 gt 2',
      "'not' applies only to a boolean, but 'endpointAnalyticsScore' is Edm.Double.",
    ],
    [
      'deviceName',
      'Invalid $filter at position 0: the expression must be a boolean condition, but it is Edm.String.',
    ],
    ['endpointAnalyticsScore add 1', 'must be a boolean condition, but it is Edm.Double.'],
    [
      "endpointAnalyticsScore eq '87.5'",
      "position 26: '87.5' is Edm.String, which cannot be compared with Edm.Double.",
    ],
    ['deviceName gt 5', "'5' is Edm.Double, which cannot be compared with Edm.String."],
    ['id eq 5', "'5' is Edm.Double, which cannot be compared with Edm.Guid."],
    [
      'deviceName eq 00000000-0000-4000-8000-00000000000a',
      'is Edm.Guid, which cannot be compared with Edm.String.',
    ],
    [
      "contains(endpointAnalyticsScore, 'x')",
      "position 9: argument 1 of contains must be Edm.String, but 'endpointAnalyticsScore' is Edm.Double.",
    ],
    ['startswith(deviceName, 1)', 'argument 2 of startswith must be Edm.String'],
    ["tolower(healthStatus) eq 'x'", 'argument 1 of tolower must be Edm.String, but'],
    [
      'deviceName add 1 eq 2',
      "the left operand of 'add' must be Edm.Double, but 'deviceName' is Edm.String.",
    ],
    ["-deviceName eq 'x'", "the operand of '-' must be Edm.Double"],
    [
      'deviceName and true',
      "an operand of 'and' must be Edm.Boolean, but 'deviceName' is Edm.String.",
    ],
    ['not model', "'not' applies only to a boolean, but 'model' is Edm.String."],
    [
      "length(deviceName, 'x') eq 1",
      'position 0: the function length takes 1 argument, but got 2.',
    ],
    ["substring(deviceName) eq 'x'", 'the function substring takes 2 or 3 arguments, but got 1.'],
    [
      "substring(deviceName, 1.5) eq 'x'",
      'position 22: argument 2 of substring must be a whole number.',
    ],
    ['true gt false', "'gt' cannot order Edm.Boolean values."],
    ['null in (1)', "the operand of 'in' must not be null."],
    [
      'meanResourceSpikeTimeScore gt 1',
      "'meanResourceSpikeTimeScore' is not available in the v1.0 API.",
    ],
  ])('rejects %j', (text, expected) => {
    expect(badRequestMessage(() => bind(text, 'v1.0'))).toContain(expected);
  });
});
