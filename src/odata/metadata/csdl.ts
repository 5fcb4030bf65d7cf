import type { EntityModel, PropertyModel, Surface } from '../query/entity-model.js';

/** An entity set contained in a singleton, such as deviceManagement/userExperienceAnalyticsDeviceScores. */
export interface ContainedSetModel {
  singleton: string;
  singletonType: string;
  model: EntityModel;
  /** Edm types that differ from what the property kind implies, such as Edm.Int64 for a count. */
  edmTypes?: Readonly<Record<string, string>>;
  /** Whether the set rejects create, update and delete. */
  readOnly?: boolean;
  /** `$apply` support, announced with Org.OData.Aggregation.V1.ApplySupported. */
  apply?: ApplySupport;
}

/** Features of `$apply` on a set, for the ApplySupported annotation. */
export interface ApplySupport {
  transformations: readonly string[];
  /** Custom query options (names without `$`) that change aggregation, with a description. */
  customOptions?: readonly { name: string; description: string }[];
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/**
 * Returns the Edm type of a property. Keys are Edm.String as in Microsoft Graph's own metadata,
 * although the service accepts only GUID text for them, so generated clients type them the same.
 */
function edmType(property: PropertyModel, set: ContainedSetModel): string {
  const { model } = set;
  const override = set.edmTypes?.[property.name];
  if (override !== undefined) {
    return override;
  }
  switch (property.kind) {
    case 'guid':
      return property.name === model.key ? 'Edm.String' : 'Edm.Guid';
    case 'string':
      return 'Edm.String';
    case 'double':
      return 'Edm.Double';
    case 'enum':
      return `${model.namespace}.${property.enum?.name ?? 'unknown'}`;
  }
}

function capabilityAnnotations(target: string, set: ContainedSetModel, surface: Surface): string[] {
  const writable = set.readOnly === true ? 'false' : 'true';
  return [
    `<Annotations Target="${target}">`,
    '<Annotation Term="Org.OData.Capabilities.V1.TopSupported" Bool="true"/>',
    '<Annotation Term="Org.OData.Capabilities.V1.SkipSupported" Bool="true"/>',
    '<Annotation Term="Org.OData.Capabilities.V1.CountRestrictions"><Record>' +
      '<PropertyValue Property="Countable" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.FilterRestrictions"><Record>' +
      '<PropertyValue Property="Filterable" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.SortRestrictions"><Record>' +
      '<PropertyValue Property="Sortable" Bool="true"/>' +
      `<PropertyValue Property="AscendingOnlyProperties"><Collection/></PropertyValue>` +
      `<PropertyValue Property="NonSortableProperties"><Collection/></PropertyValue>` +
      `</Record></Annotation>`,
    '<Annotation Term="Org.OData.Capabilities.V1.SearchRestrictions"><Record>' +
      '<PropertyValue Property="Searchable" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.SelectSupport"><Record>' +
      '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.ExpandRestrictions"><Record>' +
      '<PropertyValue Property="Expandable" Bool="false"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.InsertRestrictions"><Record>' +
      `<PropertyValue Property="Insertable" Bool="${writable}"/></Record></Annotation>`,
    '<Annotation Term="Org.OData.Capabilities.V1.UpdateRestrictions"><Record>' +
      `<PropertyValue Property="Updatable" Bool="${writable}"/></Record></Annotation>`,
    '<Annotation Term="Org.OData.Capabilities.V1.DeleteRestrictions"><Record>' +
      `<PropertyValue Property="Deletable" Bool="${writable}"/></Record></Annotation>`,
    ...applyAnnotations(set, surface),
    '</Annotations>',
  ];
}

/**
 * Describes `$apply` support with the Data Aggregation vocabulary (Org.OData.Aggregation.V1):
 * the transformations, no rollup, and every non-key property of the surface as groupable and
 * aggregatable. Custom query options are listed with Org.OData.Capabilities.V1.CustomQueryOptions.
 */
function applyAnnotations(set: ContainedSetModel, surface: Surface): string[] {
  const { apply, model } = set;
  if (apply === undefined) {
    return [];
  }

  const properties = model.properties.filter(
    (property) => property.name !== model.key && property.surfaces.includes(surface),
  );
  const transformations = apply.transformations
    .map((name) => `<String>${escapeXml(name)}</String>`)
    .join('');
  const groupable = properties
    .map((property) => `<PropertyPath>${property.name}</PropertyPath>`)
    .join('');
  const aggregatable = properties
    .map(
      (property) =>
        '<Record Type="Org.OData.Aggregation.V1.AggregatablePropertyType">' +
        `<PropertyValue Property="Property" PropertyPath="${property.name}"/></Record>`,
    )
    .join('');
  const lines = [
    '<Annotation Term="Org.OData.Aggregation.V1.ApplySupported"><Record>' +
      `<PropertyValue Property="Transformations"><Collection>${transformations}</Collection>` +
      '</PropertyValue>' +
      '<PropertyValue Property="Rollup" EnumMember="Org.OData.Aggregation.V1.RollupType/None"/>' +
      `<PropertyValue Property="GroupableProperties"><Collection>${groupable}</Collection>` +
      '</PropertyValue>' +
      `<PropertyValue Property="AggregatableProperties"><Collection>${aggregatable}` +
      '</Collection></PropertyValue></Record></Annotation>',
  ];
  const options = apply.customOptions ?? [];
  if (options.length > 0) {
    const records = options
      .map(
        (option) =>
          `<Record><PropertyValue Property="Name" String="${escapeXml(option.name)}"/>` +
          `<PropertyValue Property="Description" String="${escapeXml(option.description)}"/>` +
          '<PropertyValue Property="Required" Bool="false"/></Record>',
      )
      .join('');
    lines.push(
      '<Annotation Term="Org.OData.Capabilities.V1.CustomQueryOptions">' +
        `<Collection>${records}</Collection></Annotation>`,
    );
  }

  return lines;
}

/**
 * Builds the CSDL XML document of one surface from the same models the query engine binds to,
 * so $metadata never disagrees with what queries accept.
 */
export function buildCsdl(sets: readonly ContainedSetModel[], surface: Surface): string {
  const namespace = sets[0]?.model.namespace ?? 'microsoft.graph';
  const lines: string[] = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
    '<edmx:DataServices>',
    `<Schema Namespace="${namespace}" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">`,
  ];

  const enums = new Map<string, NonNullable<PropertyModel['enum']>>();
  for (const { model } of sets) {
    for (const property of model.properties) {
      if (property.enum !== undefined && property.surfaces.includes(surface)) {
        enums.set(property.enum.name, property.enum);
      }
    }
  }
  for (const enumModel of enums.values()) {
    lines.push(`<EnumType Name="${escapeXml(enumModel.name)}">`);
    for (const member of enumModel.members) {
      lines.push(`<Member Name="${escapeXml(member.name)}" Value="${member.value}"/>`);
    }
    lines.push('</EnumType>');
  }

  lines.push(
    '<EntityType Name="entity" Abstract="true">',
    '<Key><PropertyRef Name="id"/></Key>',
    '<Property Name="id" Type="Edm.String" Nullable="false"/>',
    '</EntityType>',
  );
  for (const set of sets) {
    const { model } = set;
    lines.push(`<EntityType Name="${model.typeName}" BaseType="graph.entity">`);
    for (const property of model.properties) {
      if (property.name === model.key || !property.surfaces.includes(surface)) {
        continue;
      }
      const nullable = property.nullable ? '' : ' Nullable="false"';
      lines.push(`<Property Name="${property.name}" Type="${edmType(property, set)}"${nullable}/>`);
    }
    lines.push('</EntityType>');
  }

  const singletons = new Map<string, ContainedSetModel[]>();
  for (const set of sets) {
    singletons.set(set.singleton, [...(singletons.get(set.singleton) ?? []), set]);
  }
  for (const [, contained] of singletons) {
    lines.push(`<EntityType Name="${contained[0].singletonType}" BaseType="graph.entity">`);
    for (const { model } of contained) {
      lines.push(
        `<NavigationProperty Name="${model.entitySet}" ` +
          `Type="Collection(graph.${model.typeName})" ContainsTarget="true"/>`,
      );
    }
    lines.push('</EntityType>');
  }

  lines.push('<EntityContainer Name="GraphService">');
  for (const [singleton, contained] of singletons) {
    lines.push(`<Singleton Name="${singleton}" Type="graph.${contained[0].singletonType}"/>`);
  }
  lines.push('</EntityContainer>');

  for (const set of sets) {
    const target = `${namespace}.GraphService/${set.singleton}/${set.model.entitySet}`;
    lines.push(...capabilityAnnotations(target, set, surface));
  }

  lines.push('</Schema>', '</edmx:DataServices>', '</edmx:Edmx>');
  return lines.join('\n');
}
