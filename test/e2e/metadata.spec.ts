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
