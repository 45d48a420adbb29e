import { defineConfig } from 'vitest/config'

// One config for the whole workspace. The JSON report is what .ci/run counts
// ("N passed, N failed"); the default reporter is what a person reads.
export default defineConfig({
  test: {
    include: ['{protocol,node,admin-cli,test-network,portal}/test/**/*.test.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
