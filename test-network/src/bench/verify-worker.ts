/** One core's share of `verifyRates`: verifies `workerData` times and reports back. */
import { parentPort, workerData } from 'node:worker_threads'
import { verifyLoop } from './verify.ts'

parentPort!.postMessage(verifyLoop(workerData as number))
