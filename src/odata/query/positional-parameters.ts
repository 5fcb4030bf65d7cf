import type { SqlFragment } from './sql-fragment.js';

/**
 * Collects positional parameters for one statement. Fragments from the query compiler name
 * their parameters (`:odata_f_0`); `add` numbers them in order of appearance.
 */
export class PositionalParameters {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder, such as `$3`. */
  next(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** Returns the fragment's SQL with each named parameter replaced by a positional one. */
  add(fragment: SqlFragment): string {
    const placeholders = new Map<string, string>();
    return fragment.sql.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (match, name: string) => {
      if (!Object.hasOwn(fragment.params, name)) {
        // Not a parameter, for example part of a `::type` cast.
        return match;
      }
      let placeholder = placeholders.get(name);
      if (placeholder === undefined) {
        placeholder = this.next(fragment.params[name]);
        placeholders.set(name, placeholder);
      }
      return placeholder;
    });
  }
}
