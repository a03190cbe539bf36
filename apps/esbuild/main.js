import { createRunRelay, startRun } from 'run-relay'

// A plain page bundled by esbuild. `?workerUrl=` passes the copied worker's URL (the recipe of docs/install.md for a classic script).
const workerUrl = new URLSearchParams(location.search).get('workerUrl') ?? undefined
const relay = createRunRelay({ workerUrl })
const sessionId = new URLSearchParams(location.search).get('session') ?? 'esbuild-session'
const reply = document.querySelector('#reply')

relay.subscribe({ sessionId }, {
  onEvents: (events) => {
    for (const event of events) if (event.type === 'token') reply.textContent += JSON.parse(event.data).text
  },
  onStatus: (status) => (reply.dataset.status = status),
})
document.querySelector('form').addEventListener('submit', (event) => {
  event.preventDefault()
  void startRun(relay, { sessionId, message: 'from esbuild', body: { tokens: 40, rate: 100 } }).then(() => (document.body.dataset.mode = relay.mode))
})
