import { XMLParser } from 'fast-xml-parser';

import {
  DEVICE_SCORES_MODEL,
  HEALTH_STATE_ENUM,
} from '../../src/device-scores/device-scores.model.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('$metadata', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
  });

  afterAll(async () => {
    await service.close();
  });

  test('beta document describes the entity and enum', async () => {
    const response = await service.request({ method: 'GET', url: '/beta/$metadata', token: null });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/xml/);
    expect(response.body).toContain('<Schema Namespace="microsoft.graph"');
    expect(response.body).toContain('<EntityType Name="userExperienceAnalyticsDeviceScores"');
    expect(response.body).toContain(
      '<Property Name="endpointAnalyticsScore" Type="Edm.Double" Nullable="false"/>',
    );
    expect(response.body).toContain('<Property Name="deviceName" Type="Edm.String"/>');
    expect(response.body).toContain(
      '<Property Name="healthStatus" Type="microsoft.graph.userExperienceAnalyticsHealthState" Nullable="false"/>',
    );
    expect(response.body).toContain('<Member Name="meetingGoals" Value="3"/>');
    expect(response.body).toContain('<Member Name="unknownFutureValue" Value="4"/>');
    expect(response.body).toContain('<Singleton Name="deviceManagement"');
    expect(response.body).toContain('meanResourceSpikeTimeScore');
  });

  test('v1.0 document omits the beta-only property', async () => {
    const response = await service.request({ method: 'GET', url: '/v1.0/$metadata', token: null });

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('endpointAnalyticsScore');
    expect(response.body).not.toContain('meanResourceSpikeTimeScore');
  });
});

describe('$metadata against the model', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
  });

  afterAll(async () => {
    await service.close();
  });

  const EDM_TYPES: Record<string, string> = {
    string: 'Edm.String',
    double: 'Edm.Double',
    guid: 'Edm.Guid',
  };

  async function parsedSchema(surface: 'beta' | 'v1.0'): Promise<any> {
    const response = await service.request({
      method: 'GET',
      url: `/${surface}/$metadata`,
      token: null,
    });
    const parser = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      isArray: (name) =>
        [
          'EntityType',
          'Property',
          'EnumType',
          'Member',
          'Annotation',
          'NavigationProperty',
        ].includes(name),
    });
    const document: Record<string, any> = parser.parse(response.body, true);
    return document['edmx:Edmx']['edmx:DataServices'].Schema as unknown;
  }

  test.each(['beta', 'v1.0'] as const)('%s entity type matches the model', async (surface) => {
    const schema = await parsedSchema(surface);
    const entityType = schema.EntityType.find(
      (type: { Name: string }) => type.Name === DEVICE_SCORES_MODEL.typeName,
    );
    const declared = new Map<string, { Type: string; Nullable?: string }>(
      entityType.Property.map((property: { Name: string; Type: string; Nullable?: string }) => [
        property.Name,
        property,
      ]),
    );
    const expected = DEVICE_SCORES_MODEL.properties.filter(
      (property) => property.surfaces.includes(surface) && property.name !== 'id',
    );

    expect([...declared.keys()].sort()).toEqual(expected.map((property) => property.name).sort());
    for (const property of expected) {
      const type =
        property.kind === 'enum'
          ? `microsoft.graph.${property.enum?.name}`
          : EDM_TYPES[property.kind];
      expect(declared.get(property.name)?.Type).toBe(type);
      expect(declared.get(property.name)?.Nullable).toBe(property.nullable ? undefined : 'false');
    }
    expect(entityType.BaseType).toBe('graph.entity');
  });

  test('enum members match the model values', async () => {
    const schema = await parsedSchema('beta');
    const enumType = schema.EnumType.find(
      (type: { Name: string }) => type.Name === HEALTH_STATE_ENUM.name,
    );
    const members = enumType.Member.map((member: { Name: string; Value: string }) => ({
      name: member.Name,
      value: Number(member.Value),
    }));

    expect(members).toEqual(HEALTH_STATE_ENUM.members);
  });

  test('container exposes the collection through deviceManagement', async () => {
    const schema = await parsedSchema('beta');
    const deviceManagement = schema.EntityType.find(
      (type: { Name: string }) => type.Name === 'deviceManagement',
    );

    const navigation = deviceManagement.NavigationProperty.find(
      (property: { Name: string }) => property.Name === 'userExperienceAnalyticsDeviceScores',
    );

    expect(schema.EntityContainer.Singleton.Name).toBe('deviceManagement');
    expect(navigation.Type).toBe('Collection(graph.userExperienceAnalyticsDeviceScores)');
    expect(navigation.ContainsTarget).toBe('true');
  });
});
