/**
 * What clients that trickle request bodies cost a node: `npm run bench:trickle --
 * [connections] [seconds]` (prints JSON). Starts one real node process, opens `connections`
 * (default 200) TCP connections that each send a POST /v1/records head announcing a 1 MB body
 * and then one byte every 10 s, and samples the node's resident memory (VmRSS) and how many of
 * the connections it still holds, every 5 s for `seconds` (default 90: past the 60 s request
 * timeout). Bounded in count and time; the node is stopped by PID at the end.
 */
import { readFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { TestNetwork } from './network.ts'

const connections = Number(process.argv[2] ?? 200)
const seconds = Number(process.argv[3] ?? 90)

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round((kb / 1024) * 10) / 10
}

const net = await TestNetwork.start({ nodes: 1 })
const node = net.nodes[0]!
const sockets: Socket[] = []
const samples: Array<{ at: number; rssMiB: number; open: number }> = []
try {
  const pid = node.pid!
  await new Promise((r) => setTimeout(r, 2_000))
  const baseline = await rssMiB(pid)
  let open = 0
  for (let i = 0; i < connections; i++) {
    const s = connect(node.httpPort, '127.0.0.1')
    s.on('error', () => undefined)
    s.on('connect', () => {
      open++
      s.write(
        'POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000000\r\n\r\n{',
      )
    })
    s.on('close', () => open--)
    sockets.push(s)
  }
  const trickle = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write(' ')
  }, 10_000)
  const start = Date.now()
  for (let t = 0; t <= seconds; t += 5) {
    await new Promise((r) => setTimeout(r, Math.max(0, start + t * 1000 - Date.now())))
    samples.push({ at: t, rssMiB: await rssMiB(pid), open })
  }
  clearInterval(trickle)
  console.log(JSON.stringify({ connections, baselineRssMiB: baseline, samples }, null, 1))
} finally {
  for (const s of sockets) s.destroy()
  await net.stop()
}
