/** The replicator in the test process (faster than a child where no crash is needed). */
import { parseConfig } from '../../src/config/parse-config.js';
import { createLogger } from '../../src/log.js';
import { type Service, startService } from '../../src/service.js';
import type { TestServers } from './servers.js';

export async function startInProcess(servers: TestServers, env: Record<string, string> = {}): Promise<Service> {
  const config = parseConfig({ HTTP_PORT: '0', LOG_LEVEL: 'silent', ...env });
  return startService(config, servers, createLogger(config.logLevel, { pretty: false }));
}
