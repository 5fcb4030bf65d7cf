/**
 * Maximum size in UTF-8 bytes of a decoded `$filter`, `$search`, `$orderby`, `$select` or
 * `$skiptoken`.
 */
export const MAX_OPTION_BYTES = 16384;

/** Maximum nesting of parentheses, unary operators and function calls in an expression. */
export const MAX_NESTING_DEPTH = 50;

/** Maximum number of syntax nodes (operators, literals, property references) in an expression. */
export const MAX_EXPRESSION_NODES = 1000;
