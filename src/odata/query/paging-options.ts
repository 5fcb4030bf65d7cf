import { invalidOption } from './option-error.js';

/** Maximum `$top` and `$skip`, the largest 32-bit signed integer. */
export const MAX_PAGING_VALUE = 2147483647;

/** Parses `$top`: digits only, 0 to MAX_PAGING_VALUE. */
export function parseTop(text: string): number {
  return parseWholeNumber('top', text);
}

/** Parses `$skip`: digits only, 0 to MAX_PAGING_VALUE. */
export function parseSkip(text: string): number {
  return parseWholeNumber('skip', text);
}

/** Parses `$count`: true or false, in any case. */
export function parseCount(text: string): boolean {
  const lower = text.toLowerCase();
  if (lower !== 'true' && lower !== 'false') {
    throw invalidOption('count', undefined, `expected true or false, but found '${text}'.`);
  }

  return lower === 'true';
}

function parseWholeNumber(option: string, text: string): number {
  const excerpt = text.length > 40 ? `${text.slice(0, 37)}...` : text;
  // A sign, a fraction, an exponent and surrounding spaces are all rejected.
  if (!/^[0-9]+$/.test(text)) {
    throw invalidOption(
      option,
      undefined,
      `expected a whole number from 0 to ${MAX_PAGING_VALUE}, but found '${excerpt}'.`,
    );
  }

  const digits = text.replace(/^0+(?=.)/, '');
  const value = Number(digits);
  if (digits.length > 10 || value > MAX_PAGING_VALUE) {
    throw invalidOption(
      option,
      undefined,
      `${excerpt} is larger than the maximum of ${MAX_PAGING_VALUE}.`,
    );
  }

  return value;
}
