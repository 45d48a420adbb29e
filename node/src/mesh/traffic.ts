/**
 * What a node's mesh sent to and received from its peers, in frames and bytes of frame payload
 * (before the varint length prefix, noise and yamux framing): the figures an operator watches
 * to see that replication does not flood, and the benchmark's bytes per record per node.
 */
export class MeshTraffic {
  framesSent = 0
  bytesSent = 0
  framesReceived = 0
  bytesReceived = 0

  sent(bytes: number): void {
    this.framesSent++
    this.bytesSent += bytes
  }

  received(bytes: number): void {
    this.framesReceived++
    this.bytesReceived += bytes
  }
}
