/**
 * Server-sent events read with `fetch`, not `EventSource`: the node's streams are officers'
 * reads, signed per request (`Authorization`, `Legation-Certificate`), and `EventSource` cannot
 * send headers. The stream is parsed as the SSE format says (event/data fields, blank-line
 * separated, comment lines ignored).
 */

/** The node sends a comment every 15 s: a stream silent for longer than this is dead. */
export const STREAM_SILENCE_MS = 40_000

/**
 * Opens `url` with `headers`, calls `onOpen` once the node answers 200, then `onEvent` for each
 * event; resolves when the stream ends, fails, is refused, goes silent or `signal` aborts.
 */
export async function readEvents(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  onOpen: () => void,
  onEvent: (name: string, data: string) => void,
): Promise<void> {
  const silence = new AbortController()
  const both = AbortSignal.any([signal, silence.signal])
  let timer = setTimeout(() => silence.abort(), STREAM_SILENCE_MS)
  try {
    const res = await fetch(url, { headers: { ...headers, accept: 'text/event-stream' }, signal: both })
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel()
      return
    }
    onOpen()
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      clearTimeout(timer)
      timer = setTimeout(() => silence.abort(), STREAM_SILENCE_MS)
      buffer += value.replaceAll('\r\n', '\n')
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let name = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'event') name = v
          else if (field === 'data') data.push(v)
        }
        if (data.length > 0) onEvent(name, data.join('\n'))
      }
    }
  } catch {
    // Dropped, silent or left: the caller falls back to asking, and tries again.
  } finally {
    clearTimeout(timer)
  }
}
