import { defineConfig } from 'vitest/config';

// Each test file runs in its own process (forks): chDB allows one data directory per process, and the
// real Kafka broker is shared by the whole run (global setup), each test using its own topic and group.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
