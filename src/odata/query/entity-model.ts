/** A Graph API version prefix. A property exists only on the surfaces it lists. */
export type Surface = 'beta' | 'v1.0';

/**
 * Value kind of a property, which decides its Edm type and its column type.
 * guid is Edm.Guid in a uuid column, string is Edm.String in text, and double is Edm.Double in
 * double precision. enum is a Graph enum type, stored as the smallint value of its member.
 */
export type PropertyKind = 'guid' | 'string' | 'double' | 'enum';

/** A Graph enum type, such as `userExperienceAnalyticsHealthState`, with its stored values. */
export interface EnumModel {
  name: string;
  members: readonly { name: string; value: number }[];
}

/** One structural property of an entity type and the database column behind it. */
export interface PropertyModel {
  /** Canonical (camelCase) name used on the wire. */
  name: string;
  /** Column name, a plain lower-case SQL identifier such as `device_name`. */
  column: string;
  kind: PropertyKind;
  nullable: boolean;
  /** Member names and values, required when `kind` is `'enum'`. */
  enum?: EnumModel;
  surfaces: readonly Surface[];
  /** Whether `$search` matches this property. Only string properties may set it. */
  searchable?: boolean;
}

/** An entity type, its entity set and its properties, as the query engine uses them. */
export interface EntityModel {
  /** Schema namespace, such as `microsoft.graph`. */
  namespace: string;
  typeName: string;
  entitySet: string;
  /** Name of the key property, such as `id`. */
  key: string;
  properties: readonly PropertyModel[];
}

/**
 * Finds a property by name, ignoring case, among the properties of one surface.
 * Returns undefined for a name that is unknown or exists only on another surface.
 */
export function findProperty(
  model: EntityModel,
  name: string,
  surface: Surface,
): PropertyModel | undefined {
  const lowerName = name.toLowerCase();

  return model.properties.find(
    (property) => property.name.toLowerCase() === lowerName && property.surfaces.includes(surface),
  );
}

/** Returns the key property of the model, which every surface must expose. */
export function keyProperty(model: EntityModel): PropertyModel {
  const key = model.properties.find((property) => property.name === model.key);
  if (key === undefined) {
    throw new Error(
      `The model ${model.typeName} declares key '${model.key}' but has no such property.`,
    );
  }

  return key;
}

/**
 * Returns the qualified type name, such as
 * `microsoft.graph.userExperienceAnalyticsDeviceScores`.
 */
export function qualifiedTypeName(model: EntityModel): string {
  return `${model.namespace}.${model.typeName}`;
}

/** Returns the Edm or enum type name of a property, as error messages show it. */
export function propertyTypeName(model: EntityModel, property: PropertyModel): string {
  switch (property.kind) {
    case 'guid':
      return 'Edm.Guid';
    case 'string':
      return 'Edm.String';
    case 'double':
      return 'Edm.Double';
    case 'enum':
      return `${model.namespace}.${property.enum?.name ?? 'unknown'}`;
  }
}
