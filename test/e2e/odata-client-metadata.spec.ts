import { randomUUID } from 'node:crypto';

import odatajs, { type Edm, type Edmx } from 'ts-odatajs';

import {
  READ,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// Apache Olingo's OData client for JavaScript (ts-odatajs) reads each surface's $metadata with its
// own HTTP layer and CSDL parser. The tests check what the client understood, then build queries
// only from that model and send them through the same client.

type Surface = 'beta' | 'v1.0';

interface DeclaredProperty {
  type: string;
  nullable: boolean;
}

const NAMESPACE = 'microsoft.graph';
const DEVICE_SCORES_TYPE = `${NAMESPACE}.userExperienceAnalyticsDeviceScores`;
const MODEL_SCORES_TYPE = `${NAMESPACE}.userExperienceAnalyticsModelScores`;
const HEALTH_STATE_TYPE = `${NAMESPACE}.userExperienceAnalyticsHealthState`;

const HEALTH_STATE_MEMBERS = [
  { name: 'unknown', value: 0 },
  { name: 'insufficientData', value: 1 },
  { name: 'needsAttention', value: 2 },
  { name: 'meetingGoals', value: 3 },
  { name: 'unknownFutureValue', value: 4 },
];

const SCORE: DeclaredProperty = { type: 'Edm.Double', nullable: false };
const TEXT: DeclaredProperty = { type: 'Edm.String', nullable: true };
const HEALTH: DeclaredProperty = { type: HEALTH_STATE_TYPE, nullable: false };

/** Properties of the device scores type on v1.0, the key included. */
const DEVICE_SCORE_PROPERTIES: Record<string, DeclaredProperty> = {
  id: { type: 'Edm.String', nullable: false },
  deviceName: TEXT,
  model: TEXT,
  manufacturer: TEXT,
  endpointAnalyticsScore: SCORE,
  startupPerformanceScore: SCORE,
  appReliabilityScore: SCORE,
  workFromAnywhereScore: SCORE,
  batteryHealthScore: SCORE,
  healthStatus: HEALTH,
};

/** Properties of the model scores type on v1.0, the key included. */
const MODEL_SCORE_PROPERTIES: Record<string, DeclaredProperty> = {
  id: { type: 'Edm.String', nullable: false },
  model: TEXT,
  manufacturer: TEXT,
  modelDeviceCount: { type: 'Edm.Int64', nullable: false },
  endpointAnalyticsScore: SCORE,
  startupPerformanceScore: SCORE,
  appReliabilityScore: SCORE,
  workFromAnywhereScore: SCORE,
  batteryHealthScore: SCORE,
  healthStatus: HEALTH,
};

/** Adds the properties that only the beta surface serves. */
function onSurface(
  properties: Record<string, DeclaredProperty>,
  surface: Surface,
): Record<string, DeclaredProperty> {
  return surface === 'beta' ? { ...properties, meanResourceSpikeTimeScore: SCORE } : properties;
}

const TENANT = randomUUID();
const MODEL = 'Latitude 7440 (client metadata test)';

/** Rows of TENANT, inserted directly: two devices meet the goals, one needs attention. */
const ROWS = [
  {
    id: randomUUID(),
    deviceName: 'OLINGO-01',
    model: MODEL,
    manufacturer: 'Dell Inc.',
    scores: [88.5, 91, 86.25, 90, 87.5, 70],
    health: 3,
  },
  {
    id: randomUUID(),
    deviceName: 'OLINGO-02',
    model: MODEL,
    manufacturer: 'Dell Inc.',
    scores: [72, 70.5, 74, 71, 72.5, 60],
    health: 3,
  },
  {
    id: randomUUID(),
    deviceName: null,
    model: 'Surface Laptop 5',
    manufacturer: 'Microsoft Corporation',
    scores: [31.75, 20, 40, 35, -1, 25],
    health: 2,
  },
];

const HEALTH_NAMES = new Map(HEALTH_STATE_MEMBERS.map((member) => [member.value, member.name]));

/**
 * Replaces a leading schema alias with the namespace (`graph.entity` becomes
 * `microsoft.graph.entity`), because the client's lookups match only the namespace.
 */
function withNamespace(name: string, schema: Edm.Schema): string {
  const prefix = `${schema.alias}.`;

  return schema.alias !== undefined && name.startsWith(prefix)
    ? `${schema.namespace}.${name.slice(prefix.length)}`
    : name;
}

/** Returns the element type of a `Collection(...)` type name. */
function elementTypeOf(typeName: string): string {
  const match = /^Collection\((.+)\)$/.exec(typeName);
  if (match === null) {
    throw new Error(`Expected a collection type, got ${typeName}.`);
  }

  return match[1];
}

describe('Olingo OData client reading $metadata', () => {
  let service: TestApp;

  /**
   * Sends a GET through the client's own HTTP layer and returns what its handler parsed.
   * NOTE: the parsed metadata is not passed to the client's JSON handler, because ts-odatajs 4.0.9
   * reads a singleton's type from `entityType` instead of CSDL's `Type` and so fails on any set
   * contained in a singleton.
   */
  async function read<T>(requestUri: string, handler = odatajs.oData.defaultHandler): Promise<T> {
    const token = await service.token(READ, TENANT);

    return new Promise<T>((resolve, reject) => {
      odatajs.oData.read(
        { requestUri, headers: { Authorization: `Bearer ${token}` } },
        (data: T) => resolve(data),
        (error) => {
          const status = error.response?.statusCode ?? 'no status';
          const body = error.response?.body ?? '';
          reject(new Error(`GET ${requestUri} failed (${status}): ${error.message} ${body}`));
        },
        handler,
      );
    });
  }

  function readMetadata(surface: Surface): Promise<Edmx.Edmx> {
    return read<Edmx.Edmx>(`${service.origin}/${surface}/$metadata`, odatajs.oData.metadataHandler);
  }

  /** Returns the only schema of the document. */
  function schemaOf(metadata: Edmx.Edmx): Edm.Schema {
    expect(metadata.dataServices.schema).toHaveLength(1);

    return metadata.dataServices.schema[0];
  }

  /** Looks up an entity type by a namespace- or alias-qualified name with the client's lookup. */
  function entityType(name: string, metadata: Edmx.Edmx): Edm.EntityType {
    const found = odatajs.oData.utils.lookupEntityType(
      withNamespace(name, schemaOf(metadata)),
      metadata,
    );
    if (found === null) {
      throw new Error(`The client found no entity type ${name}.`);
    }

    return found;
  }

  /** Returns the type followed by its base types, as the client read them. */
  function typeChain(type: Edm.EntityType, metadata: Edmx.Edmx): Edm.EntityType[] {
    const chain = [type];
    let current = type;
    while (current.baseType !== undefined) {
      current = entityType(current.baseType, metadata);
      chain.push(current);
    }

    return chain;
  }

  /** Returns the declared and inherited properties. CSDL's default for Nullable is true. */
  function propertiesOf(
    type: Edm.EntityType,
    metadata: Edmx.Edmx,
  ): Record<string, DeclaredProperty> {
    const properties: Record<string, DeclaredProperty> = {};
    for (const declaring of typeChain(type, metadata)) {
      for (const property of declaring.property ?? []) {
        properties[property.name] = {
          type: withNamespace(property.type, schemaOf(metadata)),
          nullable: property.nullable !== 'false',
        };
      }
    }

    return properties;
  }

  /** Returns the names of the key properties, which an entity type may inherit. */
  function keyOf(type: Edm.EntityType, metadata: Edmx.Edmx): string[] {
    const declaring = typeChain(type, metadata).find((candidate) => candidate.key !== undefined);

    return declaring?.key?.propertyRef.map((reference) => reference.name) ?? [];
  }

  function enumType(name: string, metadata: Edmx.Edmx): Edm.EnumType {
    const found = odatajs.oData.utils.lookupInMetadata(
      withNamespace(name, schemaOf(metadata)),
      metadata,
      'enumType',
    ) as Edm.EnumType | null;
    if (found === null) {
      throw new Error(`The client found no enum type ${name}.`);
    }

    return found;
  }

  /** Finds a set contained in a singleton: its path, navigation property and entity type. */
  function containedSet(
    singletonName: string,
    navigationName: string,
    metadata: Edmx.Edmx,
  ): { path: string; navigation: Edm.NavigationProperty; type: Edm.EntityType } {
    const container = odatajs.oData.utils.lookupDefaultEntityContainer(metadata);
    const singleton = odatajs.oData.utils.lookupSingleton(container.singleton ?? [], singletonName);
    if (singleton === null) {
      throw new Error(`The client found no singleton ${singletonName}.`);
    }
    const navigation = entityType(singleton.type, metadata).navigationProperty?.find(
      (property) => property.name === navigationName,
    );
    if (navigation === undefined) {
      throw new Error(`The client found no navigation property ${navigationName}.`);
    }

    return {
      path: `${singleton.name}/${navigation.name}`,
      navigation,
      type: entityType(elementTypeOf(navigation.type), metadata),
    };
  }

  /** Checks a served value against its declared property: JavaScript type, enum member or null. */
  function expectDeclaredValue(
    name: string,
    value: unknown,
    properties: Record<string, DeclaredProperty>,
    metadata: Edmx.Edmx,
  ): void {
    expect(Object.keys(properties)).toContain(name);
    const declared = properties[name];
    if (value === null) {
      expect({ name, nullable: declared.nullable }).toEqual({ name, nullable: true });
      return;
    }
    switch (declared.type) {
      case 'Edm.String':
        expect({ name, type: typeof value }).toEqual({ name, type: 'string' });
        break;
      case 'Edm.Double':
        expect({ name, type: typeof value }).toEqual({ name, type: 'number' });
        break;
      case 'Edm.Int64':
        expect({ name, integer: Number.isInteger(value) }).toEqual({ name, integer: true });
        break;
      default: {
        const members = enumType(declared.type, metadata).member.map((member) => member.name);
        expect(members).toContain(value);
      }
    }
  }

  /** Checks that an entity serves exactly the declared properties, each with a declared value. */
  function expectServedAsDeclared(
    entity: Record<string, unknown>,
    properties: Record<string, DeclaredProperty>,
    metadata: Edmx.Edmx,
  ): void {
    const served = Object.keys(entity).filter((name) => !name.includes('@'));
    expect(served.sort()).toEqual(Object.keys(properties).sort());
    for (const name of served) {
      expectDeclaredValue(name, entity[name], properties, metadata);
    }
  }

  beforeAll(async () => {
    service = await startTestApp();
    await clearTenants(TENANT);
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, device_name, model, manufacturer,
         endpoint_analytics_score, startup_performance_score, app_reliability_score,
         work_from_anywhere_score, battery_health_score, mean_resource_spike_time_score,
         health_status)
       SELECT $1::uuid, row.id, row.device_name, row.model, row.manufacturer,
         row.scores[1], row.scores[2], row.scores[3], row.scores[4], row.scores[5], row.scores[6],
         row.health_status
       FROM jsonb_to_recordset($2::jsonb) AS row(id uuid, device_name text, model text,
         manufacturer text, scores float8[], health_status int2)`,
      [
        TENANT,
        JSON.stringify(
          ROWS.map((row) => ({
            id: row.id,
            device_name: row.deviceName,
            model: row.model,
            manufacturer: row.manufacturer,
            scores: row.scores,
            health_status: row.health,
          })),
        ),
      ],
    );
  });

  afterAll(async () => {
    await clearTenants(TENANT);
    await service.close();
  });

  test.each(['beta', 'v1.0'] as const)('%s document parses into one schema', async (surface) => {
    const metadata = await readMetadata(surface);
    const schema = schemaOf(metadata);

    expect(metadata.version).toBe('4.0');
    expect(schema.namespace).toBe(NAMESPACE);
    expect(schema.alias).toBe('graph');
    expect(odatajs.oData.utils.lookupDefaultEntityContainer(metadata).name).toBe('GraphService');
  });

  test.each(['beta', 'v1.0'] as const)('%s device scores type and key', async (surface) => {
    const metadata = await readMetadata(surface);
    const type = entityType(DEVICE_SCORES_TYPE, metadata);

    expect(keyOf(type, metadata)).toEqual(['id']);
    expect(propertiesOf(type, metadata)).toEqual(onSurface(DEVICE_SCORE_PROPERTIES, surface));
  });

  test.each(['beta', 'v1.0'] as const)('%s health state enum members', async (surface) => {
    const metadata = await readMetadata(surface);
    const health = enumType(HEALTH_STATE_TYPE, metadata);
    const members = health.member.map((member) => ({
      name: member.name,
      value: Number(member.value),
    }));

    expect(health.isFlags).toBeUndefined();
    expect(members).toEqual(HEALTH_STATE_MEMBERS);
  });

  test.each(['beta', 'v1.0'] as const)('%s deviceManagement contains the sets', async (surface) => {
    const metadata = await readMetadata(surface);
    const deviceScores = containedSet(
      'deviceManagement',
      'userExperienceAnalyticsDeviceScores',
      metadata,
    );
    const modelScores = containedSet(
      'deviceManagement',
      'userExperienceAnalyticsModelScores',
      metadata,
    );

    expect(deviceScores.path).toBe('deviceManagement/userExperienceAnalyticsDeviceScores');
    expect(deviceScores.navigation.containsTarget).toBe('true');
    expect(deviceScores.type).toBe(entityType(DEVICE_SCORES_TYPE, metadata));
    expect(modelScores.path).toBe('deviceManagement/userExperienceAnalyticsModelScores');
    expect(modelScores.navigation.containsTarget).toBe('true');
    expect(modelScores.type).toBe(entityType(MODEL_SCORES_TYPE, metadata));
  });

  test.each(['beta', 'v1.0'] as const)('%s model scores type and key', async (surface) => {
    const metadata = await readMetadata(surface);
    const type = entityType(MODEL_SCORES_TYPE, metadata);

    expect(keyOf(type, metadata)).toEqual(['id']);
    expect(propertiesOf(type, metadata)).toEqual(onSurface(MODEL_SCORE_PROPERTIES, surface));
  });

  test.each(['beta', 'v1.0'] as const)('%s filtered list from metadata', async (surface) => {
    const metadata = await readMetadata(surface);
    const { path, type } = containedSet(
      'deviceManagement',
      'userExperienceAnalyticsDeviceScores',
      metadata,
    );
    const properties = propertiesOf(type, metadata);
    const healthProperty = Object.keys(properties).find(
      (name) => properties[name].type === HEALTH_STATE_TYPE,
    );
    const meetingGoals = enumType(HEALTH_STATE_TYPE, metadata).member.find(
      (member) => Number(member.value) === 3,
    );
    const filter = `${healthProperty} eq ${HEALTH_STATE_TYPE}'${meetingGoals?.name}'`;
    const query = new URLSearchParams({
      $filter: filter,
      $select: Object.keys(properties).join(','),
      $orderby: 'deviceName',
    });

    const page = await read<{ value: Record<string, unknown>[] }>(
      `${service.origin}/${surface}/${path}?${query.toString()}`,
    );

    expect(filter).toBe(`healthStatus eq ${HEALTH_STATE_TYPE}'meetingGoals'`);
    expect(page.value.map((item) => item.id)).toEqual([ROWS[0].id, ROWS[1].id]);
    for (const item of page.value) {
      expectServedAsDeclared(item, properties, metadata);
    }
  });

  test.each(['beta', 'v1.0'] as const)('%s get by key from metadata', async (surface) => {
    const metadata = await readMetadata(surface);
    const { path, type } = containedSet(
      'deviceManagement',
      'userExperienceAnalyticsDeviceScores',
      metadata,
    );
    const properties = propertiesOf(type, metadata);
    const [key] = keyOf(type, metadata);
    const row = ROWS[2];

    expect(properties[key].type).toBe('Edm.String');

    const entity = await read<Record<string, unknown>>(
      `${service.origin}/${surface}/${path}('${encodeURIComponent(row.id)}')`,
    );

    expect(entity[key]).toBe(row.id);
    expect(entity.deviceName).toBeNull();
    expect(entity.model).toBe(row.model);
    expect(entity.manufacturer).toBe(row.manufacturer);
    expect(entity.endpointAnalyticsScore).toBe(row.scores[0]);
    expect(entity.batteryHealthScore).toBe(row.scores[4]);
    expect(entity.healthStatus).toBe(HEALTH_NAMES.get(row.health));
    expectServedAsDeclared(entity, properties, metadata);
  });

  test.each(['beta', 'v1.0'] as const)('%s model scores list from metadata', async (surface) => {
    const metadata = await readMetadata(surface);
    const { path, type } = containedSet(
      'deviceManagement',
      'userExperienceAnalyticsModelScores',
      metadata,
    );
    const properties = propertiesOf(type, metadata);
    const query = new URLSearchParams({ $filter: `model eq '${MODEL}'` });

    const page = await read<{ value: Record<string, unknown>[] }>(
      `${service.origin}/${surface}/${path}?${query.toString()}`,
    );

    expect(page.value).toHaveLength(1);
    expect(page.value[0].modelDeviceCount).toBe(2);
    expectServedAsDeclared(page.value[0], properties, metadata);
  });
});
