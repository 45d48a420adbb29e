/**
 * The portal's service worker: the portal opens without a connection. The page itself is fetched
 * from the network first (a node's new build wins), its hashed assets from the cache first (they
 * never change); both are kept as they pass. The API is never cached: answers about a citizen
 * stay out of the cache, and what the citizen signs offline waits in IndexedDB (outbox.ts).
 */
// The few service-worker types used here (the DOM and webworker libraries do not mix in one program).
interface WaitEvent extends Event {
  waitUntil(p: Promise<unknown>): void
}
interface FetchEventLike extends WaitEvent {
  readonly request: Request
  respondWith(r: Response | Promise<Response>): void
}
interface WorkerScope {
  addEventListener(type: 'install' | 'activate', fn: (e: WaitEvent) => void): void
  addEventListener(type: 'fetch', fn: (e: FetchEventLike) => void): void
  skipWaiting(): Promise<void>
  readonly clients: { claim(): Promise<void> }
  readonly location: Location
}
const sw = globalThis as unknown as WorkerScope

const CACHE = 'legation-portal-v1'

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE)
      const page = await fetch('/', { cache: 'no-cache' })
      const html = await page.clone().text()
      await cache.put('/', page)
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)
      await cache.addAll(assets)
      await sw.skipWaiting()
    })(),
  )
})

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key)
      await sw.clients.claim()
    })(),
  )
})

sw.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (event.request.method !== 'GET' || url.origin !== sw.location.origin) return
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      // The node answers `Vary: Origin` (CORS); module scripts are fetched with an Origin header
      // and the install step without: the asset is the same file either way.
      caches.match(event.request, { ignoreVary: true }).then(
        (hit) =>
          hit ??
          fetch(event.request).then(async (res) => {
            if (res.ok) await (await caches.open(CACHE)).put(event.request, res.clone())
            return res
          }),
      ),
    )
  } else if (url.pathname === '/' || url.pathname === '/index.html') {
    event.respondWith(
      fetch(event.request)
        .then(async (res) => {
          if (res.ok) await (await caches.open(CACHE)).put('/', res.clone())
          return res
        })
        .catch(async () => (await caches.match('/', { ignoreVary: true })) ?? Response.error()),
    )
  }
})
