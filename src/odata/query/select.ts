import { findProperty, qualifiedTypeName, type EntityModel, type Surface } from './entity-model.js';
import { checkOptionValue, invalidOption } from './option-error.js';

const NAME = /^[\p{L}_][\p{L}\p{Nd}_]*$/u;

/**
 * Parses `$select`: a comma list of property names (case-insensitive) or `*`.
 * Returns canonical names in request order without repeats, or undefined when the list
 * contains `*`, which selects every property. Throws a 400 GraphException naming an unknown
 * property or an empty item.
 */
export function parseSelect(
  text: string,
  model: EntityModel,
  surface: Surface,
  plusOffsets: readonly number[] = [],
): readonly string[] | undefined {
  checkOptionValue('select', text);
  const names: string[] = [];
  let selectsAll = false;
  let itemStart = 0;

  for (const rawItem of text.split(',')) {
    const item = rawItem.trim();
    const position = itemStart + rawItem.indexOf(item.charAt(0));
    itemStart += rawItem.length + 1;

    if (item === '*') {
      selectsAll = true;
    } else if (item === '') {
      throw invalidOption('select', position, 'expected a property name or *.', plusOffsets);
    } else if (!NAME.test(item)) {
      throw invalidOption(
        'select',
        position,
        `'${item}' is not a property name; only property names and * are allowed.`,
        plusOffsets,
      );
    } else {
      const property = findProperty(model, item, surface);
      if (property === undefined) {
        throw invalidOption(
          'select',
          position,
          `'${item}' is not a property of ${qualifiedTypeName(model)}.`,
        );
      }
      if (!names.includes(property.name)) {
        names.push(property.name);
      }
    }
  }

  return selectsAll ? undefined : names;
}
