// The service worker: every file of the app cached on install, served cache-first, so the app
// works offline after one visit. The exporter writes VERSION (from the model's sha256 and the
// files') and FILES below; a new model is a new cache, and the old one is deleted.
const VERSION = "__VERSION__";
const FILES = __FILES__;
const CACHE = `workbench-webapp-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("workbench-webapp-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET" || new URL(event.request.url).origin !== self.location.origin) return;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(event.request, { ignoreSearch: true });
      if (hit) return hit;
      try {
        const response = await fetch(event.request);
        if (response.ok) cache.put(event.request, response.clone());
        return response;
      } catch (offline) {
        // The folder's own URL ("./") whatever the server calls its index page.
        const page = event.request.mode === "navigate" && (await cache.match("index.html"));
        if (page) return page;
        throw offline;
      }
    }),
  );
});
