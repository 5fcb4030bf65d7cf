import type { EntityModel, PropertyModel, Surface } from '../query/entity-model.js';

/** An entity set contained in a singleton, such as deviceManagement/userExperienceAnalyticsDeviceScores. */
export interface ContainedSetModel {
  singleton: string;
  singletonType: string;
  model: EntityModel;
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
function edmType(property: PropertyModel, model: EntityModel): string {
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

function capabilityAnnotations(target: string): string[] {
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
      '<PropertyValue Property="Insertable" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.UpdateRestrictions"><Record>' +
      '<PropertyValue Property="Updatable" Bool="true"/></Record></Annotation>',
    '<Annotation Term="Org.OData.Capabilities.V1.DeleteRestrictions"><Record>' +
      '<PropertyValue Property="Deletable" Bool="true"/></Record></Annotation>',
    '</Annotations>',
  ];
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
  for (const { model } of sets) {
    lines.push(`<EntityType Name="${model.typeName}" BaseType="graph.entity">`);
    for (const property of model.properties) {
      if (property.name === model.key || !property.surfaces.includes(surface)) {
        continue;
      }
      const nullable = property.nullable ? '' : ' Nullable="false"';
      lines.push(
        `<Property Name="${property.name}" Type="${edmType(property, model)}"${nullable}/>`,
      );
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
    lines.push(
      ...capabilityAnnotations(`${namespace}.GraphService/${set.singleton}/${set.model.entitySet}`),
    );
  }

  lines.push('</Schema>', '</edmx:DataServices>', '</edmx:Edmx>');
  return lines.join('\n');
}
