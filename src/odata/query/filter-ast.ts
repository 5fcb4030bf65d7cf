/** Syntax tree of an OData `$filter` expression, before names and types are checked. */

export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type LogicalOperator = 'and' | 'or';
export type ArithmeticOperator = 'add' | 'sub' | 'mul' | 'div' | 'mod';
export type BinaryOperator = ComparisonOperator | LogicalOperator | ArithmeticOperator;

export const FILTER_FUNCTIONS = [
  'contains',
  'startswith',
  'endswith',
  'tolower',
  'toupper',
  'length',
  'trim',
  'indexof',
  'substring',
  'concat',
] as const;

export type FilterFunction = (typeof FILTER_FUNCTIONS)[number];

/** Offsets of a node in the decoded `$filter` text: `start` inclusive, `end` exclusive. */
interface Span {
  start: number;
  end: number;
}

export interface NullLiteral extends Span {
  kind: 'null';
}

export interface BooleanLiteral extends Span {
  kind: 'boolean';
  value: boolean;
}

/** A number literal. `value` may be NaN or ±Infinity for the literals NaN, INF and -INF. */
export interface NumberLiteral extends Span {
  kind: 'number';
  value: number;
}

export interface StringLiteral extends Span {
  kind: 'string';
  /** The text with the doubled quotes of the literal undone. */
  value: string;
}

/** An unquoted GUID such as `00000000-0000-4000-8000-00000000000a`, stored in lower case. */
export interface GuidLiteral extends Span {
  kind: 'guid';
  value: string;
}

/**
 * A qualified enum literal, such as
 * `microsoft.graph.userExperienceAnalyticsHealthState'meetingGoals'`.
 */
export interface EnumLiteral extends Span {
  kind: 'enum';
  typeName: string;
  member: string;
}

export interface PropertyReference extends Span {
  kind: 'property';
  /** The name as written, before case-insensitive lookup. */
  name: string;
}

export interface BinaryExpression extends Span {
  kind: 'binary';
  operator: BinaryOperator;
  left: FilterNode;
  right: FilterNode;
}

export interface UnaryExpression extends Span {
  kind: 'unary';
  operator: 'not' | 'negate';
  operand: FilterNode;
}

export interface InExpression extends Span {
  kind: 'in';
  operand: FilterNode;
  items: FilterNode[];
}

export interface FunctionCall extends Span {
  kind: 'call';
  name: FilterFunction;
  args: FilterNode[];
}

export type FilterNode =
  | NullLiteral
  | BooleanLiteral
  | NumberLiteral
  | StringLiteral
  | GuidLiteral
  | EnumLiteral
  | PropertyReference
  | BinaryExpression
  | UnaryExpression
  | InExpression
  | FunctionCall;

/** Returns the operands of a node: none for literals and property paths. */
export function operandsOf(node: FilterNode): readonly FilterNode[] {
  switch (node.kind) {
    case 'binary':
      return [node.left, node.right];
    case 'unary':
      return [node.operand];
    case 'in':
      return [node.operand, ...node.items];
    case 'call':
      return node.args;
    case 'null':
    case 'boolean':
    case 'number':
    case 'string':
    case 'guid':
    case 'enum':
    case 'property':
      return [];
  }
}
