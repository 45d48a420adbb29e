#!/usr/bin/env node
// The `legation` binary: Node >= 22.18 runs the TypeScript sources directly.
import { main } from '../src/cli.ts'

await main()
