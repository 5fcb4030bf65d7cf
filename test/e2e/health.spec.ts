import { startTestApp, type TestApp } from '../support/test-app.js';

describe('health endpoints', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
  });

  afterAll(async () => {
    await service.close();
  });

  test('liveness needs no token', async () => {
    const response = await service.request({ method: 'GET', url: '/health/live', token: null });

    expect(response.statusCode).toBe(200);
    expect(response.json().status).toBe('ok');
  });

  test('readiness checks database and migrations', async () => {
    const response = await service.request({ method: 'GET', url: '/health/ready', token: null });

    expect(response.statusCode).toBe(200);
    expect(response.json().info.database.status).toBe('up');
    expect(response.json().info.migrations.status).toBe('up');
  });
});
