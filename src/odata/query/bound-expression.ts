import type { EnumModel, PropertyModel } from './entity-model.js';
import type {
  ArithmeticOperator,
  ComparisonOperator,
  FilterFunction,
  LogicalOperator,
} from './filter-ast.js';

/**
 * The type of a bound expression. Numbers are all Edm.Double here, because every numeric
 * property is a double and the integer results of `length` and `indexof` fit one exactly.
 */
export type ValueType = 'boolean' | 'string' | 'double' | 'guid' | 'enum';

interface Typed {
  type: ValueType;
  /** Whether the expression can be SQL NULL, which decides how comparisons are compiled. */
  nullable: boolean;
}

/** A literal after type checking. `value` is null only for a typed null. */
export interface BoundConstant extends Typed {
  kind: 'constant';
  /** A string, GUID, boolean, double, or the smallint value of an enum member. */
  value: string | number | boolean | null;
}

export interface BoundProperty extends Typed {
  kind: 'property';
  property: PropertyModel;
}

export interface BoundComparison extends Typed {
  kind: 'comparison';
  operator: ComparisonOperator;
  left: BoundExpression;
  right: BoundExpression;
}

/** `operand eq null` or `operand ne null`, which SQL writes as IS [NOT] NULL. */
export interface BoundNullCheck extends Typed {
  kind: 'nullCheck';
  operand: BoundExpression;
  negated: boolean;
}

export interface BoundIn extends Typed {
  kind: 'in';
  operand: BoundExpression;
  /** Items of the operand's type. A null constant matches a null operand. */
  items: BoundExpression[];
}

/** An `and` or `or` chain, flattened so that long chains do not nest. */
export interface BoundLogical extends Typed {
  kind: 'logical';
  operator: LogicalOperator;
  operands: BoundExpression[];
}

export interface BoundNot extends Typed {
  kind: 'not';
  operand: BoundExpression;
}

export interface BoundArithmetic extends Typed {
  kind: 'arithmetic';
  operator: ArithmeticOperator;
  left: BoundExpression;
  right: BoundExpression;
}

export interface BoundNegate extends Typed {
  kind: 'negate';
  operand: BoundExpression;
}

export interface BoundCall extends Typed {
  kind: 'call';
  name: FilterFunction;
  args: BoundExpression[];
}

export type BoundExpression =
  | BoundConstant
  | BoundProperty
  | BoundComparison
  | BoundNullCheck
  | BoundIn
  | BoundLogical
  | BoundNot
  | BoundArithmetic
  | BoundNegate
  | BoundCall;

/** Returns the enum model of an enum-typed expression. Only property references have one. */
export function enumOf(expression: BoundExpression): EnumModel | undefined {
  return expression.kind === 'property' ? expression.property.enum : undefined;
}
