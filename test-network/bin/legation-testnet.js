#!/usr/bin/env node
// The test network's binary (`npm run testnet`, `npx legation-testnet`): checks the Node
// version, then runs src/cli.ts (bin/require-node.js of the node package says why).
import { requireNode } from '@legation/node/require-node'

requireNode('npm run testnet -- [options]  (or npx legation-testnet [options])')
await import('../src/cli.ts')
