import type { DataSource } from 'typeorm';

import { DEVICE_SCORES_MODEL } from '../../src/device-scores/device-scores.model.js';
import { GraphException } from '../../src/odata/http/graph-error.js';
import type { Surface } from '../../src/odata/query/entity-model.js';
import { planListQuery, type ListQueryPlan } from '../../src/odata/query/list-query.js';
import {
  deleteTenantRows,
  encodeOptionValue,
  insertScoreRows,
  LIST_ACCEPTED,
  newTenantId,
  openPlanDatabase,
  readPlanPage,
  type ScoreRow,
} from './plan-database.js';

// Conformance table in the spirit of the OASIS OData ABNF test cases, written for the flat
// device scores entity. Each case is accepted (planned, then run on PostgreSQL without an error),
// rejected (a 400 GraphException from the planner), or accepted by the planner but failing in
// PostgreSQL with a class 22 error, which the service reports as a 400.

type Expectation = 'accept' | 'reject' | 'sql-class-22';

interface ConformanceCase {
  /** Raw query string as it appears after `?`. */
  query: string;
  expectation: Expectation;
  surface: Surface;
  /** Text that a rejection message must contain. */
  message?: string;
}

const GUID_A = '00000000-0000-4000-8000-00000000000a';
const GUID_B = '00000000-0000-4000-8000-00000000000b';
const HEALTH_TYPE = 'microsoft.graph.userExperienceAnalyticsHealthState';

/** `[value, expectation]` pairs of one option, sent percent-encoded. */
type OptionCases = readonly (readonly [string, Expectation])[];

const FILTER_LITERAL_CASES: OptionCases = [
  // Numbers: digits, fraction, exponent with either case of e and an optional sign.
  ['endpointAnalyticsScore eq 1', 'accept'],
  ['endpointAnalyticsScore eq -1', 'accept'],
  ['endpointAnalyticsScore eq 87.5', 'accept'],
  ['endpointAnalyticsScore eq 0.0', 'accept'],
  ['endpointAnalyticsScore eq 00012', 'accept'],
  ['endpointAnalyticsScore eq 1.5e1', 'accept'],
  ['endpointAnalyticsScore eq 1.5E1', 'accept'],
  ['endpointAnalyticsScore eq 15e-1', 'accept'],
  ['endpointAnalyticsScore eq 1.5e+1', 'accept'],
  ['endpointAnalyticsScore eq 1E0', 'accept'],
  ['endpointAnalyticsScore eq -2.5E-3', 'accept'],
  ['endpointAnalyticsScore eq 1e-400', 'accept'],
  ['endpointAnalyticsScore eq 2147483648', 'accept'],
  ['endpointAnalyticsScore eq 1.7976931348623157e308', 'accept'],
  ['endpointAnalyticsScore eq - 1', 'accept'],
  ['endpointAnalyticsScore eq --1', 'accept'],
  ['endpointAnalyticsScore eq .5', 'reject'],
  ['endpointAnalyticsScore eq 5.', 'reject'],
  ['endpointAnalyticsScore eq 1e', 'reject'],
  ['endpointAnalyticsScore eq 1e+', 'reject'],
  ['endpointAnalyticsScore eq 1e-', 'reject'],
  ['endpointAnalyticsScore eq 1.2.3', 'reject'],
  ['endpointAnalyticsScore eq 1e400', 'reject'],
  ['endpointAnalyticsScore eq -1e400', 'reject'],
  ['endpointAnalyticsScore eq 12d', 'reject'],
  ['endpointAnalyticsScore eq 12L', 'reject'],
  ['endpointAnalyticsScore eq 12.5m', 'reject'],
  ['endpointAnalyticsScore eq 1_000', 'reject'],
  ['endpointAnalyticsScore eq 0x10', 'reject'],
  ['endpointAnalyticsScore eq 1,5', 'reject'],
  // Special doubles: exact case only.
  ['endpointAnalyticsScore eq INF', 'accept'],
  ['endpointAnalyticsScore lt INF', 'accept'],
  ['endpointAnalyticsScore gt -INF', 'accept'],
  ['endpointAnalyticsScore eq NaN', 'accept'],
  ['endpointAnalyticsScore ne NaN', 'accept'],
  ['endpointAnalyticsScore eq inf', 'reject'],
  ['endpointAnalyticsScore eq Inf', 'reject'],
  ['endpointAnalyticsScore eq -inf', 'reject'],
  ['endpointAnalyticsScore eq nan', 'reject'],
  ['endpointAnalyticsScore eq NAN', 'reject'],
  ['endpointAnalyticsScore eq INFINITY', 'reject'],
  // Strings: single quotes, a doubled quote inside, any other character as is.
  ["deviceName eq 'PC-A'", 'accept'],
  ["deviceName eq ''", 'accept'],
  ["deviceName eq ''''", 'accept'],
  ["deviceName eq 'O''Brien'", 'accept'],
  ["deviceName eq 'it''s ''quoted'''", 'accept'],
  ["deviceName eq '50%_off\\now'", 'accept'],
  ["deviceName eq 'Zürich 😀 中文'", 'accept'],
  ["deviceName eq 'tab\there'", 'accept'],
  ["deviceName eq 'a&b=c+d#e?f'", 'accept'],
  ['deviceName eq \'"double"\'', 'accept'],
  ["deviceName eq 'O'Brien'", 'reject'],
  ["deviceName eq 'unterminated", 'reject'],
  ["deviceName eq 'x''", 'reject'],
  ['deviceName eq "PC-A"', 'reject'],
  ['deviceName eq `PC-A`', 'reject'],
  ["deviceName eq 'nul\u0000char'", 'reject'],
  // Keyword literals: true and false in any case, but null, NaN and INF only as written.
  ['true', 'accept'],
  ['false', 'accept'],
  ['TRUE', 'accept'],
  ['True eq false', 'accept'],
  ['not true', 'accept'],
  ['null', 'accept'],
  ['deviceName eq null', 'accept'],
  ['null eq deviceName', 'accept'],
  ['deviceName ne null', 'accept'],
  ['null eq null', 'accept'],
  ['null ne null', 'accept'],
  ['deviceName gt null', 'accept'],
  ['endpointAnalyticsScore lt null', 'accept'],
  ['deviceName eq NULL', 'reject'],
  ['deviceName eq Null', 'reject'],
  ['deviceName eq nil', 'reject'],
];

const FILTER_ENUM_AND_GUID_CASES: OptionCases = [
  ["healthStatus eq 'meetingGoals'", 'accept'],
  ["healthStatus eq 'MEETINGGOALS'", 'accept'],
  ["healthStatus eq 'unknownFutureValue'", 'accept'],
  [`healthStatus eq ${HEALTH_TYPE}'meetingGoals'`, 'accept'],
  [`healthStatus eq Microsoft.Graph.UserExperienceAnalyticsHealthState'needsAttention'`, 'accept'],
  [`${HEALTH_TYPE}'unknown' eq healthStatus`, 'accept'],
  ["'insufficientData' ne healthStatus", 'accept'],
  ["healthStatus gt 'insufficientData'", 'accept'],
  ["healthStatus le 'needsAttention'", 'accept'],
  ["healthStatus in ('meetingGoals', 'needsAttention')", 'accept'],
  [`healthStatus in (${HEALTH_TYPE}'unknown', 'meetingGoals')`, 'accept'],
  ['healthStatus eq healthStatus', 'accept'],
  ['healthStatus eq null', 'accept'],
  ["healthStatus eq 'notAMember'", 'reject'],
  ["healthStatus eq 'meetingGoals,needsAttention'", 'reject'],
  [`healthStatus eq ${HEALTH_TYPE}'notAMember'`, 'reject'],
  ["healthStatus eq microsoft.graph.otherEnum'meetingGoals'", 'reject'],
  ["healthStatus eq userExperienceAnalyticsHealthState'meetingGoals'", 'reject'],
  ['healthStatus eq 3', 'reject'],
  ['healthStatus eq deviceName', 'reject'],
  [`${HEALTH_TYPE}'unknown' eq ${HEALTH_TYPE}'unknown'`, 'reject'],
  [`healthStatus has ${HEALTH_TYPE}'meetingGoals'`, 'reject'],
  [`id eq ${GUID_A}`, 'accept'],
  [`id eq ${GUID_A.toUpperCase()}`, 'accept'],
  [`id eq '${GUID_A}'`, 'accept'],
  [`'${GUID_B}' eq id`, 'accept'],
  ["id eq 'zzz'", 'accept'],
  ["id ne 'zzz'", 'accept'],
  [`id gt ${GUID_A}`, 'accept'],
  [`id in (${GUID_A}, '${GUID_B}', 'not-a-guid')`, 'accept'],
  ['id eq null', 'accept'],
  ['id eq 00000000-0000-4000-8000-00000000000g', 'reject'],
  ['id eq 00000000-0000-4000-8000-0000000000', 'reject'],
  [`id eq guid'${GUID_A}'`, 'reject'],
  [`id eq {${GUID_A}}`, 'reject'],
  ['id eq 1', 'reject'],
  [`deviceName eq ${GUID_A}`, 'reject'],
];

const FILTER_OPERATOR_CASES: OptionCases = [
  // Comparison operators, case-insensitive, between compatible types.
  ["deviceName ne 'PC-A'", 'accept'],
  ["deviceName gt 'PC'", 'accept'],
  ["deviceName ge 'PC'", 'accept'],
  ["deviceName lt 'PC'", 'accept'],
  ["deviceName le 'PC'", 'accept'],
  ["deviceName EQ 'PC-A'", 'accept'],
  ["deviceName Eq 'PC-A'", 'accept'],
  ['deviceName lt model', 'accept'],
  ['endpointAnalyticsScore ge batteryHealthScore', 'accept'],
  ['1 eq 1', 'accept'],
  ['1 lt 2', 'accept'],
  ['true eq false', 'accept'],
  ["deviceName eq 'x' eq true", 'accept'],
  ['endpointAnalyticsScore eq 1 eq false', 'accept'],
  ['true gt false', 'reject'],
  ['deviceName eq 1', 'reject'],
  ["endpointAnalyticsScore eq '1'", 'reject'],
  ['deviceName eq true', 'reject'],
  ["deviceName == 'PC-A'", 'reject'],
  ["deviceName = 'PC-A'", 'reject'],
  ['endpointAnalyticsScore > 1', 'reject'],
  ["deviceName like 'PC%'", 'reject'],
  ["deviceName eq eq 'PC-A'", 'reject'],
  ["deviceName 'PC-A'", 'reject'],
  ['deviceName eq', 'reject'],
  ["eq 'PC-A'", 'reject'],
  // Logical operators and their precedence: not, then and, then or.
  ["deviceName eq 'a' and model eq 'b' or manufacturer eq 'c'", 'accept'],
  ["deviceName eq 'a' or model eq 'b' and manufacturer eq 'c'", 'accept'],
  ["(deviceName eq 'a' or model eq 'b') and manufacturer eq 'c'", 'accept'],
  ["deviceName eq 'a' AND model eq 'b' OR manufacturer eq 'c'", 'accept'],
  ["not (deviceName eq 'a')", 'accept'],
  ["not(deviceName eq 'a')", 'accept'],
  ["not not (deviceName eq 'a')", 'accept'],
  ["not (deviceName eq 'a') and not (model eq 'b')", 'accept'],
  ["not deviceName eq 'a'", 'reject'],
  ['not endpointAnalyticsScore lt 5', 'reject'],
  ['not endpointAnalyticsScore', 'reject'],
  ["deviceName eq 'a' and", 'reject'],
  ["and deviceName eq 'a'", 'reject'],
  ["deviceName eq 'a' and and model eq 'b'", 'reject'],
  ["deviceName eq 'a' && model eq 'b'", 'reject'],
  ["deviceName eq 'a' xor model eq 'b'", 'reject'],
  ['deviceName or model', 'reject'],
  ['true and 1', 'reject'],
  ['endpointAnalyticsScore eq 1 or 1', 'reject'],
  // Arithmetic: mul, div and mod bind tighter than add and sub, which bind tighter than eq.
  ['endpointAnalyticsScore add 1 mul 2 eq 3', 'accept'],
  ['endpointAnalyticsScore sub 1 sub 1 eq 0', 'accept'],
  ['endpointAnalyticsScore div 2 mod 3 eq 1', 'accept'],
  ['endpointAnalyticsScore add 1 eq 2 add 0', 'accept'],
  ['(endpointAnalyticsScore add 1) mul 2 eq 3', 'accept'],
  ['-endpointAnalyticsScore lt 0', 'accept'],
  ['- endpointAnalyticsScore lt 0', 'accept'],
  ['-(endpointAnalyticsScore add 1) lt 0', 'accept'],
  ['endpointAnalyticsScore ADD 1 MUL 2 eq 3', 'accept'],
  ['endpointAnalyticsScore div 0 eq 1', 'accept'],
  ['endpointAnalyticsScore mod 0 eq 1', 'accept'],
  ['endpointAnalyticsScore mod 7.5 eq 5', 'accept'],
  ['endpointAnalyticsScore mod INF eq endpointAnalyticsScore', 'accept'],
  ['endpointAnalyticsScore add INF eq INF', 'accept'],
  ['endpointAnalyticsScore mul 1e308 gt 0', 'sql-class-22'],
  ['endpointAnalyticsScore add 1e308 add 1e308 gt 0', 'sql-class-22'],
  ['deviceName add 1 eq 2', 'reject'],
  ["endpointAnalyticsScore add '1' eq 2", 'reject'],
  ['endpointAnalyticsScore + 1 eq 2', 'reject'],
  ['endpointAnalyticsScore * 2 eq 2', 'reject'],
  ['endpointAnalyticsScore divby 2 eq 1', 'reject'],
  ['endpointAnalyticsScore add eq 1', 'reject'],
  ['-deviceName eq 1', 'reject'],
  // Grouping.
  ["((deviceName eq 'a'))", 'accept'],
  ["(deviceName eq 'a'", 'reject'],
  ["deviceName eq 'a')", 'reject'],
  ['()', 'reject'],
  ['', 'reject'],
  ['   ', 'reject'],
  // A condition is required, not a value.
  ['deviceName', 'reject'],
  ['endpointAnalyticsScore', 'reject'],
  ['1', 'reject'],
  ["'PC-A'", 'reject'],
  // in: a parenthesised list of at least one value of the operand's type.
  ["deviceName in ('PC-A', 'PC-B')", 'accept'],
  ["deviceName in ('PC-A')", 'accept'],
  ["deviceName in ('PC-A', null)", 'accept'],
  ['deviceName in (model, manufacturer)', 'accept'],
  ['endpointAnalyticsScore in (1, 2.5, -1, INF, 1e2)', 'accept'],
  ["deviceName IN ('PC-A')", 'accept'],
  ["deviceName in ('PC-A') eq true", 'accept'],
  ["not (deviceName in ('PC-A'))", 'accept'],
  ["deviceName in ('PC-A') or deviceName in ('PC-B')", 'accept'],
  ['deviceName in ()', 'reject'],
  ["deviceName in 'PC-A'", 'reject'],
  ["deviceName in ('PC-A',)", 'reject'],
  ["deviceName in (,'PC-A')", 'reject'],
  ["deviceName in ('PC-A' 'PC-B')", 'reject'],
  ["deviceName in ['PC-A']", 'reject'],
  ["endpointAnalyticsScore in ('1')", 'reject'],
  ["null in ('PC-A')", 'reject'],
  ["not deviceName in ('PC-A')", 'reject'],
];

const FILTER_FUNCTION_CASES: OptionCases = [
  // String functions with their arity, in any case.
  ["contains(deviceName, 'PC')", 'accept'],
  ["contains('PC-A', deviceName)", 'accept'],
  ["CONTAINS(deviceName, 'PC')", 'accept'],
  ['contains(deviceName, null)', 'accept'],
  ["contains(deviceName, '%')", 'accept'],
  ["startswith(deviceName, 'PC')", 'accept'],
  ["endswith(deviceName, 'PC')", 'accept'],
  ["startswith(deviceName, 'PC') eq true", 'accept'],
  ["startswith(deviceName, 'PC') eq false", 'accept'],
  ["not startswith(deviceName, 'PC')", 'accept'],
  ["not endswith(deviceName, '_') and contains(model, '\\')", 'accept'],
  ['length(deviceName) gt 3', 'accept'],
  ['length(deviceName) eq length(model)', 'accept'],
  ['length(null) eq null', 'accept'],
  ["indexof(deviceName, 'C') eq 1", 'accept'],
  ["indexof(deviceName, '') eq 0", 'accept'],
  ["substring(deviceName, 1) eq 'C-A'", 'accept'],
  ["substring(deviceName, 1, 2) eq 'C-'", 'accept'],
  ["substring(deviceName, -1) eq 'PC-A'", 'accept'],
  ["substring(deviceName, endpointAnalyticsScore) eq ''", 'accept'],
  ["substring(deviceName, 0, endpointAnalyticsScore div 0) eq ''", 'accept'],
  ["substring(deviceName, 2147483647, 2147483647) eq ''", 'accept'],
  ["tolower(deviceName) eq 'pc-a'", 'accept'],
  ["toupper(deviceName) eq 'PC-A'", 'accept'],
  ["trim(deviceName) eq 'PC-A'", 'accept'],
  ["concat(deviceName, model) eq 'PC-AM1'", 'accept'],
  ["concat(concat(deviceName, ' '), model) eq 'PC-A M1'", 'accept'],
  ['length(trim(tolower(deviceName))) eq 4', 'accept'],
  ['indexof(concat(deviceName, model), substring(manufacturer, 1)) ge 0', 'accept'],
  ["contains(tolower(deviceName), tolower('PC'))", 'accept'],
  ['contains(deviceName)', 'reject'],
  ["contains(deviceName, 'a', 'b')", 'reject'],
  ['contains(deviceName, 1)', 'reject'],
  ["contains(endpointAnalyticsScore, 'a')", 'reject'],
  ['startswith(deviceName)', 'reject'],
  ["length(deviceName, 'a') eq 1", 'reject'],
  ['length() eq 0', 'reject'],
  ['length(endpointAnalyticsScore) eq 1', 'reject'],
  ['indexof(deviceName) eq 1', 'reject'],
  ["substring(deviceName) eq 'x'", 'reject'],
  ["substring(deviceName, 1, 2, 3) eq 'x'", 'reject'],
  ["substring(deviceName, 1.5) eq 'x'", 'reject'],
  ["substring(deviceName, 'a') eq 'x'", 'reject'],
  ["tolower(deviceName, model) eq 'x'", 'reject'],
  ["concat(deviceName) eq 'x'", 'reject'],
  ["concat(deviceName, 1) eq 'x'", 'reject'],
  ["contains(deviceName, 'PC'", 'reject'],
  ["contains deviceName, 'PC')", 'reject'],
  ['length(deviceName)', 'reject'],
  // Functions the service does not implement.
  ['round(endpointAnalyticsScore) eq 1', 'reject'],
  ['floor(endpointAnalyticsScore) eq 1', 'reject'],
  ["matchesPattern(deviceName, '^PC')", 'reject'],
  ['year(deviceName) eq 2020', 'reject'],
  ["cast(endpointAnalyticsScore, Edm.String) eq '1'", 'reject'],
  ['isof(microsoft.graph.userExperienceAnalyticsDeviceScores)', 'reject'],
  ['now() gt 1', 'reject'],
  ["deviceName/any(d: d eq 'a')", 'reject'],
];

const FILTER_NAME_CASES: OptionCases = [
  // Property names match case-insensitively, but column names and paths are not properties.
  ["DEVICENAME eq 'PC-A'", 'accept'],
  ["devicename eq 'PC-A'", 'accept'],
  ["MANUFACTURER eq 'Contoso'", 'accept'],
  ['meanResourceSpikeTimeScore eq 1', 'accept'],
  [
    'workFromAnywhereScore ge 0 and startupPerformanceScore ge 0 and appReliabilityScore ge 0',
    'accept',
  ],
  ["unknownProperty eq 'a'", 'reject'],
  ["device_name eq 'a'", 'reject'],
  ["tenant_id eq '11111111-1111-1111-1111-111111111111'", 'reject'],
  ["tenantId eq '11111111-1111-1111-1111-111111111111'", 'reject'],
  ['row_version eq 1', 'reject'],
  ['createdAt gt 2020-01-01', 'reject'],
  ['deviceName/length eq 1', 'reject'],
  ["microsoft.graph.userExperienceAnalyticsDeviceScores/deviceName eq 'a'", 'reject'],
  ["$it/deviceName eq 'a'", 'reject'],
  ["@odata.type eq 'x'", 'reject'],
  ['deviceName eq @alias', 'reject'],
  ["deviceName eq 'a'; DROP TABLE device_scores", 'reject'],
];

const ORDERBY_CASES: OptionCases = [
  ['deviceName', 'accept'],
  ['deviceName asc', 'accept'],
  ['deviceName desc', 'accept'],
  ['deviceName DESC', 'accept'],
  ['deviceName Asc', 'accept'],
  ['deviceName  desc', 'accept'],
  ['deviceName,model desc', 'accept'],
  ['deviceName , model', 'accept'],
  ['healthStatus desc,endpointAnalyticsScore', 'accept'],
  ['batteryHealthScore', 'accept'],
  ['id desc', 'accept'],
  ['DEVICENAME desc', 'accept'],
  ['meanResourceSpikeTimeScore', 'accept'],
  [' deviceName', 'accept'],
  ['deviceName sideways', 'reject'],
  ['deviceName asc desc', 'reject'],
  ['deviceName,deviceName', 'reject'],
  ['deviceName,DEVICENAME desc', 'reject'],
  ['deviceName,', 'reject'],
  [',deviceName', 'reject'],
  ['', 'reject'],
  ['length(deviceName)', 'reject'],
  ['deviceName desc; DROP TABLE device_scores', 'reject'],
  ['unknownProperty', 'reject'],
  ['device_name', 'reject'],
  ['tenantId', 'reject'],
  ['deviceName/length', 'reject'],
  ['1', 'reject'],
];

const SELECT_CASES: OptionCases = [
  ['deviceName', 'accept'],
  ['deviceName,model', 'accept'],
  ['*', 'accept'],
  ['deviceName,*', 'accept'],
  ['id,deviceName,healthStatus', 'accept'],
  ['DEVICENAME', 'accept'],
  ['deviceName,deviceName', 'accept'],
  [' deviceName , model ', 'accept'],
  ['meanResourceSpikeTimeScore', 'accept'],
  ['', 'reject'],
  ['deviceName,', 'reject'],
  [',deviceName', 'reject'],
  ['unknownProperty', 'reject'],
  ['device_name', 'reject'],
  ['deviceName/length', 'reject'],
  ['microsoft.graph.*', 'reject'],
  ['deviceName model', 'reject'],
  ['tenantId', 'reject'],
];

const PAGING_CASES: readonly (readonly [string, string, Expectation])[] = [
  ['$top', '0', 'accept'],
  ['$top', '1', 'accept'],
  ['$top', '01', 'accept'],
  ['$top', '00000000000000000001', 'accept'],
  ['$top', '2147483647', 'accept'],
  ['$top', '2147483648', 'reject'],
  ['$top', '99999999999999999999', 'reject'],
  ['$top', '-1', 'reject'],
  ['$top', '1.5', 'reject'],
  ['$top', '1e2', 'reject'],
  ['$top', 'abc', 'reject'],
  ['$top', '', 'reject'],
  ['$top', ' 1', 'reject'],
  ['$top', '0x10', 'reject'],
  ['$skip', '0', 'accept'],
  ['$skip', '10', 'accept'],
  ['$skip', '2147483647', 'accept'],
  ['$skip', '-1', 'reject'],
  ['$skip', '99999999999', 'reject'],
  ['$skip', 'one', 'reject'],
  ['$count', 'true', 'accept'],
  ['$count', 'false', 'accept'],
  ['$count', 'TRUE', 'accept'],
  ['$count', 'False', 'accept'],
  ['$count', '1', 'reject'],
  ['$count', 'yes', 'reject'],
  ['$count', '', 'reject'],
];

const SEARCH_CASES: OptionCases = [
  ['pc', 'accept'],
  ['"pc lab"', 'accept'],
  ['pc lab', 'accept'],
  ['pc AND lab', 'accept'],
  ['pc OR lab', 'accept'],
  ['NOT pc', 'accept'],
  ['NOT NOT pc', 'accept'],
  ['(pc OR lab) AND NOT x', 'accept'],
  ['pc and lab', 'accept'],
  ['"a\\"b"', 'accept'],
  ['"a\\\\b"', 'accept'],
  ['%_\\', 'accept'],
  ["O'Brien", 'accept'],
  ['a*', 'accept'],
  ['Zürich', 'accept'],
  ['"unterminated', 'reject'],
  ['""', 'reject'],
  ['"a\\b"', 'reject'],
  ['pc AND', 'reject'],
  ['AND pc', 'reject'],
  ['pc OR OR lab', 'reject'],
  ['NOT', 'reject'],
  ['(pc', 'reject'],
  ['pc)', 'reject'],
  ['()', 'reject'],
  ['', 'reject'],
];

/** Whole query strings, written as sent, for splitting, naming and encoding rules. */
const RAW_CASES: readonly (readonly [string, Expectation, string?])[] = [
  ["$filter=deviceName%20eq%20'PC-A'", 'accept'],
  ["$filter=deviceName+eq+'PC-A'", 'accept'],
  ["filter=deviceName eq 'PC-A'", 'accept'],
  ["%24filter=deviceName eq 'PC-A'", 'accept'],
  ["$Filter=deviceName eq 'PC-A'", 'accept'],
  ["$FILTER=deviceName eq 'PC-A'&$TOP=1&$ORDERBY=deviceName DESC", 'accept'],
  ['$orderby=deviceName+desc', 'accept'],
  ['$filter=endpointAnalyticsScore gt 1.5E%2B1', 'accept'],
  ['$filter=endpointAnalyticsScore gt 1.5E+1', 'reject', 'sent as %2B'],
  ["$filter=deviceName eq 'a&b'", 'reject', 'Invalid $filter'],
  ["$filter=deviceName eq 'a%26b'", 'accept'],
  ['$format=json', 'accept'],
  ['$format=JSON', 'accept'],
  ['$format=xml', 'reject', 'Invalid $format'],
  ['unknownParameter=1', 'accept'],
  ['&&$top=1&', 'accept'],
  ["$filter=deviceName eq 'a'&$filter=deviceName eq 'b'", 'reject', 'more than once'],
  ["$filter=deviceName eq 'a'&filter=deviceName eq 'b'", 'reject', 'more than once'],
  ['$top=1&$TOP=2', 'reject', 'more than once'],
  ['$expand=deviceName', 'reject', '$expand'],
  ['$apply=aggregate($count as n)', 'reject', '$apply'],
  ['$levels=2', 'reject', '$levels'],
  ['$compute=length(deviceName) as n', 'reject', '$compute'],
  ['$deltatoken=abc', 'reject', '$deltatoken'],
  ['$unknown=1', 'reject', '$unknown'],
  ['$skiptoken=abc', 'reject', 'Invalid $skiptoken'],
  ['$skiptoken=', 'reject', 'Invalid $skiptoken'],
  ["$filter=deviceName eq 'a'&@alias='b'", 'accept'],
  ['$filter=%ZZ', 'reject', 'not a valid percent-encoding'],
  ['$filter=%C3%28', 'reject', 'not valid UTF-8'],
  ['$filter=%', 'reject', 'not a valid percent-encoding'],
  ['$filter', 'reject', 'Invalid $filter'],
  ['$top', 'reject', 'Invalid $top'],
];

/** Builds the limit cases: size, nesting depth and node count, just under and just over. */
function limitCases(): ConformanceCase[] {
  const filter = (value: string, expectation: Expectation): ConformanceCase => ({
    query: `$filter=${encodeOptionValue(value)}`,
    expectation,
    surface: 'beta',
  });
  const nested = (depth: number) => `${'('.repeat(depth)}deviceName eq 'a'${')'.repeat(depth)}`;
  const inList = (count: number) =>
    `deviceName in (${Array.from({ length: count }, (_, index) => `'n${index}'`).join(',')})`;
  const padding = 16384 - "deviceName eq ''".length;

  return [
    filter(nested(50), 'accept'),
    filter(nested(51), 'reject'),
    filter(`${'not '.repeat(49)}(deviceName eq 'a')`, 'accept'),
    filter(`${'not '.repeat(51)}(deviceName eq 'a')`, 'reject'),
    filter(inList(998), 'accept'),
    filter(inList(999), 'reject'),
    filter(`deviceName eq '${'x'.repeat(padding)}'`, 'accept'),
    filter(`deviceName eq '${'x'.repeat(padding + 1)}'`, 'reject'),
    filter(`deviceName eq '${'é'.repeat(padding / 2)}'`, 'accept'),
    filter(`deviceName eq '${'é'.repeat(padding / 2 + 1)}'`, 'reject'),
    {
      query: `$search=${encodeOptionValue(`${'('.repeat(51)}pc${')'.repeat(51)}`)}`,
      expectation: 'reject',
      surface: 'beta',
    },
    {
      query: `$search=${encodeOptionValue(Array.from({ length: 1001 }, () => 'pc').join(' OR '))}`,
      expectation: 'reject',
      surface: 'beta',
    },
  ];
}

const SURFACE_CASES: ConformanceCase[] = [
  { query: '$filter=meanResourceSpikeTimeScore%20eq%201', expectation: 'reject', surface: 'v1.0' },
  { query: '$orderby=meanResourceSpikeTimeScore', expectation: 'reject', surface: 'v1.0' },
  { query: '$select=meanResourceSpikeTimeScore', expectation: 'reject', surface: 'v1.0' },
  {
    query: '$select=deviceName&$orderby=batteryHealthScore',
    expectation: 'accept',
    surface: 'v1.0',
  },
];

function optionCases(option: string, cases: OptionCases): ConformanceCase[] {
  return cases.map(([value, expectation]) => ({
    query: `${option}=${encodeOptionValue(value)}`,
    expectation,
    surface: 'beta',
    message: expectation === 'reject' ? `Invalid ${option}` : undefined,
  }));
}

const CASES: ConformanceCase[] = [
  ...optionCases('$filter', FILTER_LITERAL_CASES),
  ...optionCases('$filter', FILTER_ENUM_AND_GUID_CASES),
  ...optionCases('$filter', FILTER_OPERATOR_CASES),
  ...optionCases('$filter', FILTER_FUNCTION_CASES),
  ...optionCases('$filter', FILTER_NAME_CASES),
  ...optionCases('$orderby', ORDERBY_CASES),
  ...optionCases('$select', SELECT_CASES),
  ...optionCases('$search', SEARCH_CASES),
  ...PAGING_CASES.map(([option, value, expectation]) => ({
    query: `${option}=${encodeOptionValue(value)}`,
    expectation,
    surface: 'beta' as const,
    message: expectation === 'reject' ? `Invalid ${option}` : undefined,
  })),
  ...RAW_CASES.map(([query, expectation, message]) => ({
    query,
    expectation,
    surface: 'beta' as const,
    message,
  })),
  ...limitCases(),
  ...SURFACE_CASES,
];

const SECRET = Buffer.from('conformance-skiptoken-secret-0123456789');
const TENANT = newTenantId();

const guid = (suffix: number) => `00000000-0000-4000-8000-${suffix.toString(16).padStart(12, '0')}`;

function row(suffix: number, values: Partial<ScoreRow>): ScoreRow {
  return {
    id: guid(suffix),
    device_name: 'PC',
    model: 'M1',
    manufacturer: 'Contoso',
    endpoint_analytics_score: 50,
    startup_performance_score: 50,
    app_reliability_score: 50,
    work_from_anywhere_score: 50,
    battery_health_score: 50,
    mean_resource_spike_time_score: 50,
    health_status: 0,
    ...values,
  };
}

/** Rows with the values that break naive SQL: nulls, -1, 100, wildcards, quotes, unicode. */
const ROWS: ScoreRow[] = [
  row(0xa, { device_name: 'PC-A', endpoint_analytics_score: 87.5, health_status: 3 }),
  row(0xb, { device_name: 'PC-B', endpoint_analytics_score: 9.5, health_status: 2 }),
  row(1, { device_name: null, model: null, manufacturer: null, endpoint_analytics_score: -1 }),
  row(2, { device_name: "O'Brien", battery_health_score: -1, health_status: 1 }),
  row(3, { device_name: '50%_off\\now', endpoint_analytics_score: 100 }),
  row(4, { device_name: '  Zürich 😀  ', model: '', endpoint_analytics_score: 0 }),
  row(5, { device_name: 'x'.repeat(256), manufacturer: 'MICROSOFT', health_status: 3 }),
  row(6, { device_name: '\tTabbed\u00a0', endpoint_analytics_score: 7.333333333333333 }),
  row(7, { device_name: 'PC-7', model: null }),
];

/** Filters whose results once differed from OData, with the row suffixes they must match. */
const RESULT_CASES: readonly (readonly [string, number[]])[] = [
  // trim removes Unicode white space, not only spaces.
  ["trim(deviceName) eq 'Tabbed'", [6]],
  ["trim(deviceName) eq 'Zürich 😀'", [4]],
  // A function with a null argument is null, also when the argument is an offset.
  ['substring(deviceName, length(model)) eq null', [1, 7]],
  ['substring(deviceName, 0, length(model)) eq null', [1, 7]],
  // mod keeps all 16 significant digits of 7.333333333333333.
  ['endpointAnalyticsScore mod 1 eq 0.333333333333333', [6]],
  ['endpointAnalyticsScore mod 100 ne endpointAnalyticsScore', [3]],
];

function describeQuery(testCase: ConformanceCase): string {
  const text =
    testCase.surface === 'beta' ? testCase.query : `${testCase.surface} ${testCase.query}`;

  return text.length > 90 ? `${text.slice(0, 87)}...` : text;
}

function plan(testCase: ConformanceCase): ListQueryPlan {
  return planListQuery(testCase.query, DEVICE_SCORES_MODEL, {
    surface: testCase.surface,
    maxPageSize: 1000,
    skiptokenSecret: SECRET,
    scope: `${TENANT}|${testCase.surface}|deviceManagement/userExperienceAnalyticsDeviceScores`,
    accepted: LIST_ACCEPTED,
    alias: 'ds',
  });
}

function planFailure(testCase: ConformanceCase): unknown {
  try {
    plan(testCase);
  } catch (error) {
    return error;
  }

  return undefined;
}

describe('OData query conformance', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = await openPlanDatabase();
    await insertScoreRows(dataSource, TENANT, ROWS);
  });

  afterAll(async () => {
    await deleteTenantRows(dataSource, TENANT);
    await dataSource.destroy();
  });

  it('has at least 150 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(150);
  });

  const accepted = CASES.filter((testCase) => testCase.expectation === 'accept');
  const rejected = CASES.filter((testCase) => testCase.expectation === 'reject');
  const failingInSql = CASES.filter((testCase) => testCase.expectation === 'sql-class-22');

  it.each(accepted.map((testCase) => [describeQuery(testCase), testCase] as const))(
    'accepts and runs %s',
    async (_name, testCase) => {
      const accepted = plan(testCase);

      await expect(readPlanPage(dataSource, TENANT, accepted)).resolves.toBeDefined();
    },
  );

  it.each(rejected.map((testCase) => [describeQuery(testCase), testCase] as const))(
    'rejects %s',
    (_name, testCase) => {
      const failure = planFailure(testCase);

      expect(failure).toBeInstanceOf(GraphException);
      expect((failure as GraphException).status).toBe(400);
      if (testCase.message !== undefined) {
        expect((failure as GraphException).message).toContain(testCase.message);
      }
    },
  );

  it.each(RESULT_CASES)('filter %s matches the expected rows', async (filter, suffixes) => {
    const page = await readPlanPage(
      dataSource,
      TENANT,
      plan({
        query: `$filter=${encodeOptionValue(filter)}`,
        expectation: 'accept',
        surface: 'beta',
      }),
    );

    expect(page.rows.map((found) => found.id).sort()).toEqual(suffixes.map(guid).sort());
  });

  it.each(failingInSql.map((testCase) => [describeQuery(testCase), testCase] as const))(
    'accepts %s, which fails in SQL with class 22',
    async (_name, testCase) => {
      const accepted = plan(testCase);

      await expect(readPlanPage(dataSource, TENANT, accepted)).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: expect.stringMatching(/^22/) }),
      });
    },
  );
});
