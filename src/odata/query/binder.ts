import type { GraphException } from '../http/graph-error.js';
import type {
  BoundConstant,
  BoundExpression,
  BoundProperty,
  ValueType,
} from './bound-expression.js';
import { enumOf } from './bound-expression.js';
import {
  findProperty,
  qualifiedTypeName,
  type EntityModel,
  type EnumModel,
  type Surface,
} from './entity-model.js';
import type {
  BinaryExpression,
  BinaryOperator,
  ComparisonOperator,
  FilterFunction,
  FilterNode,
  FunctionCall,
  InExpression,
  UnaryExpression,
} from './filter-ast.js';
import { invalidOption } from './option-error.js';

const GUID_TEXT = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

const COMPARISON_OPERATORS: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

function isComparison(operator: BinaryOperator): operator is ComparisonOperator {
  return COMPARISON_OPERATORS.has(operator);
}

/**
 * Parameter types and result type of each function.
 * The last `optional` parameters may be left out.
 */
const FUNCTION_SIGNATURES: Readonly<
  Record<FilterFunction, { params: ValueType[]; optional: number; returns: ValueType }>
> = {
  contains: { params: ['string', 'string'], optional: 0, returns: 'boolean' },
  startswith: { params: ['string', 'string'], optional: 0, returns: 'boolean' },
  endswith: { params: ['string', 'string'], optional: 0, returns: 'boolean' },
  tolower: { params: ['string'], optional: 0, returns: 'string' },
  toupper: { params: ['string'], optional: 0, returns: 'string' },
  trim: { params: ['string'], optional: 0, returns: 'string' },
  length: { params: ['string'], optional: 0, returns: 'double' },
  indexof: { params: ['string', 'string'], optional: 0, returns: 'double' },
  substring: { params: ['string', 'double', 'double'], optional: 1, returns: 'string' },
  concat: { params: ['string', 'string'], optional: 0, returns: 'string' },
};

/**
 * A comparison operand that can never equal a value of the other side, such as the string
 * 'zzz' compared with a GUID property. Such comparisons bind to a constant instead of failing.
 */
const NEVER_EQUAL = Symbol('never equal');

/** A bound operand, the null literal (not yet typed), or a value that matches nothing. */
type Operand = BoundExpression | null | typeof NEVER_EQUAL;

/**
 * Checks a `$filter` syntax tree against an entity model and returns the typed expression.
 *
 * Property names match case-insensitively among the properties of `surface`. `text` is the
 * decoded `$filter`, used to quote the request in messages. Throws a 400 GraphException naming
 * the position and the problem for an unknown property, a type mismatch, an unknown enum
 * member, a wrong function call, or a filter that is not a boolean condition.
 */
export function bindFilter(
  ast: FilterNode,
  model: EntityModel,
  surface: Surface,
  text: string,
): BoundExpression {
  const binder = new FilterBinder(model, surface, text);
  const bound = binder.bindOperand(ast);
  if (bound === null) {
    return typedNull('boolean');
  }
  if (bound.type !== 'boolean') {
    throw binder.error(
      ast.start,
      `the expression must be a boolean condition, but it is ${binder.typeName(bound)}.`,
    );
  }

  return bound;
}

class FilterBinder {
  /** Results per node, so a subtree bound twice (for a hint, then for real) costs nothing more. */
  private readonly cache = new Map<FilterNode, BoundExpression | null>();

  constructor(
    private readonly model: EntityModel,
    private readonly surface: Surface,
    private readonly text: string,
  ) {}

  /** Binds any node. Returns null for the null literal, whose type comes from its context. */
  bindOperand(node: FilterNode): BoundExpression | null {
    const cached = this.cache.get(node);
    if (cached !== undefined) {
      return cached;
    }

    const bound = this.bindUncached(node);
    this.cache.set(node, bound);

    return bound;
  }

  private bindUncached(node: FilterNode): BoundExpression | null {
    switch (node.kind) {
      case 'null':
        return null;
      case 'boolean':
        return constant('boolean', node.value);
      case 'number':
        return constant('double', node.value);
      case 'string':
        return constant('string', node.value);
      case 'guid':
        return constant('guid', node.value);
      case 'enum':
        throw this.error(
          node.start,
          `the enum value ${this.quote(node)} must be compared with a property of its type.`,
        );
      case 'property':
        return this.bindProperty(node.name, node.start);
      case 'unary':
        return this.bindUnary(node);
      case 'in':
        return this.bindIn(node);
      case 'call':
        return this.bindCall(node);
      case 'binary':
        return this.bindBinary(node);
    }
  }

  private bindProperty(name: string, position: number): BoundProperty {
    const property = findProperty(this.model, name, this.surface);
    if (property === undefined) {
      const elsewhere = this.model.properties.some(
        (candidate) => candidate.name.toLowerCase() === name.toLowerCase(),
      );
      const detail = elsewhere
        ? `'${name}' is not available in the ${this.surface} API.`
        : `'${name}' is not a property of ${qualifiedTypeName(this.model)}.`;
      throw this.error(position, detail);
    }

    return { kind: 'property', type: property.kind, nullable: property.nullable, property };
  }

  private bindUnary(node: UnaryExpression): BoundExpression {
    if (node.operator === 'not') {
      const operand = this.bindOperand(node.operand) ?? typedNull('boolean');
      if (operand.type !== 'boolean') {
        throw this.error(
          node.start,
          `'not' applies only to a boolean, but ${this.quote(node.operand)} ` +
            `is ${this.typeName(operand)}. 'not' binds tighter than comparisons and arithmetic, ` +
            'so put what it negates in parentheses.',
        );
      }

      return { kind: 'not', type: 'boolean', nullable: false, operand };
    }

    const operand = this.expectType(node.operand, 'double', "the operand of '-'");

    return { kind: 'negate', type: 'double', nullable: operand.nullable, operand };
  }

  private bindBinary(node: BinaryExpression): BoundExpression {
    const { operator } = node;
    if (operator === 'and' || operator === 'or') {
      const operands = [node.left, node.right].flatMap((child) => {
        const bound = this.expectType(child, 'boolean', `an operand of '${operator}'`);

        return bound.kind === 'logical' && bound.operator === operator ? bound.operands : [bound];
      });

      return { kind: 'logical', operator, type: 'boolean', nullable: false, operands };
    }

    if (isComparison(operator)) {
      this.checkNotPrecedence(node.left, node.end);

      return this.bindComparison(node, operator);
    }

    const left = this.expectType(node.left, 'double', `the left operand of '${operator}'`);
    const right = this.expectType(node.right, 'double', `the right operand of '${operator}'`);
    // Division and modulo by zero yield NULL in SQL instead of raising an error.
    const nullable = left.nullable || right.nullable || operator === 'div' || operator === 'mod';

    return { kind: 'arithmetic', operator, type: 'double', nullable, left, right };
  }

  private bindComparison(node: BinaryExpression, operator: ComparisonOperator): BoundExpression {
    const [left, right] = this.bindPair(node.left, node.right);
    const ordering = operator !== 'eq' && operator !== 'ne';

    if (left === NEVER_EQUAL || right === NEVER_EQUAL) {
      return constant('boolean', operator === 'ne');
    }
    if (left === null || right === null) {
      // Ordering with null is false, while eq and ne with null test for null.
      const other = left ?? right;
      if (ordering) {
        return constant('boolean', false);
      }
      if (other === null) {
        return constant('boolean', operator === 'eq');
      }

      return {
        kind: 'nullCheck',
        type: 'boolean',
        nullable: false,
        operand: other,
        negated: operator === 'ne',
      };
    }

    if (ordering && left.type === 'boolean') {
      throw this.error(node.start, `'${operator}' cannot order Edm.Boolean values.`);
    }

    return {
      kind: 'comparison',
      operator,
      type: 'boolean',
      nullable: left.nullable || right.nullable,
      left,
      right,
    };
  }

  private bindIn(node: InExpression): BoundExpression {
    this.checkNotPrecedence(node.operand, node.end);
    const operand = this.bindOperand(node.operand);
    if (operand === null) {
      throw this.error(node.operand.start, "the operand of 'in' must not be null.");
    }

    const items: BoundExpression[] = [];
    for (const item of node.items) {
      const bound = this.coerce(item, operand);
      if (bound === null) {
        items.push(typedNull(operand.type));
      } else if (bound !== NEVER_EQUAL) {
        items.push(bound);
      }
    }

    if (items.length === 0) {
      return constant('boolean', false);
    }

    return { kind: 'in', type: 'boolean', nullable: operand.nullable, operand, items };
  }

  private bindCall(node: FunctionCall): BoundExpression {
    const signature = FUNCTION_SIGNATURES[node.name];
    const max = signature.params.length;
    const min = max - signature.optional;
    if (node.args.length < min || node.args.length > max) {
      const expected = min === max ? `${max}` : `${min} or ${max}`;
      const noun = max === 1 ? 'argument' : 'arguments';
      throw this.error(
        node.start,
        `the function ${node.name} takes ${expected} ${noun}, but got ${node.args.length}.`,
      );
    }

    const args = node.args.map((arg, index) => {
      const type = signature.params[index];
      if (type === 'double' && arg.kind === 'number' && !Number.isInteger(arg.value)) {
        throw this.error(
          arg.start,
          `argument ${index + 1} of ${node.name} must be a whole number.`,
        );
      }

      return this.expectType(arg, type, `argument ${index + 1} of ${node.name}`);
    });
    const nullable = args.some((arg) => arg.nullable);

    return { kind: 'call', name: node.name, type: signature.returns, nullable, args };
  }

  /**
   * Binds both sides of a comparison. A literal that takes its meaning from the other side
   * (an enum member name, a GUID in quotes) is bound against the other side's type.
   */
  private bindPair(leftNode: FilterNode, rightNode: FilterNode): [Operand, Operand] {
    if (isContextTyped(leftNode) && !isContextTyped(rightNode) && rightNode.kind !== 'null') {
      const right = this.bindOperand(rightNode) as BoundExpression;

      return [this.coerce(leftNode, right), right];
    }

    const left = this.bindOperand(leftNode);
    if (left === null) {
      return [null, this.bindOperand(rightNode)];
    }

    return [left, this.coerce(rightNode, left)];
  }

  /** Binds `node` as a value comparable with `target`, converting literals to its type. */
  private coerce(node: FilterNode, target: BoundExpression): Operand {
    if (node.kind === 'null') {
      return null;
    }

    if (target.type === 'enum') {
      return this.coerceToEnum(node, target);
    }

    if (target.type === 'guid' && node.kind === 'string') {
      return GUID_TEXT.test(node.value) ? constant('guid', node.value.toLowerCase()) : NEVER_EQUAL;
    }

    const bound = this.bindOperand(node);
    if (bound === null) {
      return null;
    }
    if (bound.type !== target.type) {
      throw this.mismatch(node, bound, target);
    }

    return bound;
  }

  private coerceToEnum(node: FilterNode, target: BoundExpression): BoundExpression {
    const enumModel = enumOf(target) as EnumModel;
    const enumName = `${this.model.namespace}.${enumModel.name}`;
    if (node.kind === 'string' || node.kind === 'enum') {
      if (node.kind === 'enum' && node.typeName.toLowerCase() !== enumName.toLowerCase()) {
        throw this.error(
          node.start,
          `${this.quote(node)} has type ${node.typeName}, ` +
            `but the value compared with it has type ${enumName}.`,
        );
      }

      const name = node.kind === 'string' ? node.value : node.member;
      const member = enumModel.members.find(
        (candidate) => candidate.name.toLowerCase() === name.toLowerCase(),
      );
      if (member === undefined) {
        throw this.error(
          node.start,
          `'${name}' is not a member of ${enumName}. ` +
            `Expected one of: ${enumModel.members.map((candidate) => candidate.name).join(', ')}.`,
        );
      }

      return { kind: 'constant', type: 'enum', nullable: false, value: member.value };
    }

    if (node.kind === 'number') {
      throw this.error(
        node.start,
        `${enumName} values are compared by member name, ` +
          `such as '${enumModel.members[0]?.name}', not by number.`,
      );
    }

    const bound = this.bindOperand(node);
    if (bound === null || enumOf(bound) === enumModel) {
      return bound ?? typedNull('enum');
    }

    throw this.mismatch(node, bound, target);
  }

  /** Binds `node` and requires `type`. The null literal becomes a typed null. */
  private expectType(node: FilterNode, type: ValueType, role: string): BoundExpression {
    const bound = this.bindOperand(node);
    if (bound === null) {
      return typedNull(type);
    }
    if (bound.type !== type) {
      throw this.error(
        node.start,
        `${role} must be ${TYPE_NAMES[type]}, but ${this.quote(node)} is ${this.typeName(bound)}.`,
      );
    }

    return bound;
  }

  /**
   * Rejects `not x eq y` where x is not boolean with a hint: `not` binds tighter than comparison
   * and arithmetic operators in OData, so the request needs parentheses.
   */
  private checkNotPrecedence(left: FilterNode, end: number): void {
    if (left.kind !== 'unary' || left.operator !== 'not') {
      return;
    }

    const operand = this.bindOperand(left.operand);
    if (operand !== null && operand.type !== 'boolean') {
      // Everything after the keyword, so parentheses around the operand are kept.
      const intended = this.text.slice(left.start + 'not'.length, end).trim();
      throw this.error(
        left.start,
        `'not' applies only to a boolean, but ${this.quote(left.operand)} ` +
          `is ${this.typeName(operand)}. ` +
          `'not' binds tighter than comparisons, so write not (${intended}).`,
      );
    }
  }

  private mismatch(node: FilterNode, bound: BoundExpression, target: BoundExpression) {
    return this.error(
      node.start,
      `${this.quote(node)} is ${this.typeName(bound)}, ` +
        `which cannot be compared with ${this.typeName(target)}.`,
    );
  }

  typeName(expression: BoundExpression): string {
    const enumModel = enumOf(expression);

    return enumModel ? `${this.model.namespace}.${enumModel.name}` : TYPE_NAMES[expression.type];
  }

  /**
   * Quotes the source of a node for a message, shortened when long.
   * A string literal keeps its own quotes.
   */
  private quote(node: FilterNode): string {
    const source = this.text.slice(node.start, node.end);
    if (source.length > 60) {
      return `'${source.slice(0, 57)}...'`;
    }

    return node.kind === 'string' ? source : `'${source}'`;
  }

  error(position: number, detail: string): GraphException {
    return invalidOption('filter', position, detail);
  }
}

const TYPE_NAMES: Readonly<Record<ValueType, string>> = {
  boolean: 'Edm.Boolean',
  string: 'Edm.String',
  double: 'Edm.Double',
  guid: 'Edm.Guid',
  enum: 'an enum',
};

/** Literals whose type depends on what they are compared with: strings and enum literals. */
function isContextTyped(node: FilterNode): boolean {
  return node.kind === 'string' || node.kind === 'enum';
}

function constant(type: ValueType, value: string | number | boolean): BoundConstant {
  return { kind: 'constant', type, nullable: false, value };
}

function typedNull(type: ValueType): BoundConstant {
  return { kind: 'constant', type, nullable: true, value: null };
}
