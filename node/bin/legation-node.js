#!/usr/bin/env node
// The node binary (`npm start`, `npx legation-node`): checks the Node version, then runs
// src/bin.ts. Plain JavaScript so that an old Node can say what is wrong (bin/require-node.js).
import { requireNode } from './require-node.js'

requireNode('npm start -- [flags]  (or npx legation-node [flags])')
await import('../src/bin.ts')
