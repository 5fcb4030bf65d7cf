import { findProperty, qualifiedTypeName, type EntityModel, type Surface } from './entity-model.js';
import { checkOptionValue, invalidOption } from './option-error.js';
import type { OrderByItem } from './sql-compiler.js';

const NAME = /[\p{L}_][\p{L}\p{Nd}_]*/uy;
const WHITESPACE = /[ \t\r\n]/;

/**
 * Parses `$orderby`: a comma list of `property [asc|desc]` with case-insensitive names and
 * directions. Anything else, such as a path, a function, a sub-query or an unknown direction,
 * is a 400 GraphException with the position, as is an unknown property or one listed twice.
 * Returns canonical property names; the caller adds the key as tie-breaker.
 */
export function parseOrderBy(
  text: string,
  model: EntityModel,
  surface: Surface,
  plusOffsets: readonly number[] = [],
): OrderByItem[] {
  checkOptionValue('orderby', text);
  const fail = (position: number, detail: string) =>
    invalidOption('orderby', position, detail, plusOffsets);
  const found = (position: number) =>
    position >= text.length ? 'the end of the value' : `'${text[position]}'`;
  const items: OrderByItem[] = [];
  let index = skipWhitespace(text, 0);

  for (;;) {
    NAME.lastIndex = index;
    const name = NAME.exec(text)?.[0];
    if (name === undefined) {
      throw fail(index, `expected a property name, but found ${found(index)}.`);
    }

    const property = findProperty(model, name, surface);
    if (property === undefined) {
      throw fail(index, `'${name}' is not a property of ${qualifiedTypeName(model)}.`);
    }
    if (items.some((item) => item.property === property.name)) {
      throw fail(index, `'${property.name}' is listed more than once.`);
    }

    const nameEnd = index + name.length;
    index = skipWhitespace(text, nameEnd);
    let direction: 'ASC' | 'DESC' = 'ASC';
    NAME.lastIndex = index;
    const word = index > nameEnd ? NAME.exec(text)?.[0] : undefined;
    if (word !== undefined) {
      const lower = word.toLowerCase();
      if (lower !== 'asc' && lower !== 'desc') {
        throw fail(index, `expected asc or desc after '${name}', but found '${word}'.`);
      }
      direction = lower === 'asc' ? 'ASC' : 'DESC';
      index = skipWhitespace(text, index + word.length);
    }
    items.push({ property: property.name, direction });

    if (index >= text.length) {
      return items;
    }
    if (text[index] !== ',') {
      throw fail(
        index,
        `expected asc, desc, ',' or the end of the value after '${name}', ` +
          `but found ${found(index)}. ` +
          'Only property names, each optionally followed by asc or desc, are allowed.',
      );
    }
    index = skipWhitespace(text, index + 1);
  }
}

function skipWhitespace(text: string, start: number): number {
  let index = start;
  while (index < text.length && WHITESPACE.test(text[index])) {
    index += 1;
  }

  return index;
}
