#!/usr/bin/env node
// The `legation` binary: checks the Node version (Node >= 22.18 runs the TypeScript sources
// directly; an older one gets one line saying how to run it), then runs src/cli.ts.
import { requireNode } from '@legation/node/require-node'

requireNode('npx legation <command>')
const { main } = await import('../src/cli.ts')
await main()
