import { defineConfig } from 'vitest/config'

// One config for the whole workspace. The JSON report is what .ci/run counts
// ("N passed, N failed"); the default reporter is what a person reads.
//
// Two groups, one after the other. The in-process tests (protocol, node: engines over memory
// or a temporary LevelDB, meshes on loopback) run two files at a time, one per core. The
// system tests (real node processes, the CLI, a browser, Docker) run one file at a time after
// them: each starts up to 15 node processes and times what they do, so they get the machine
// alone.
const shared = { testTimeout: 30_000, hookTimeout: 60_000, pool: 'forks' } as const

export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
    projects: [
      {
        test: {
          ...shared,
          name: 'in-process',
          include: ['{protocol,node}/test/**/*.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'system',
          include: ['{admin-cli,test-network,portal}/test/**/*.test.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
