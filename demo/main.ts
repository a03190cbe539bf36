import { createRunRelay, type RunEvent, type RunStatus, type RunSummary } from '../src/index.ts'

/**
 * The demo chat page: a sidebar of chats with running indicators, one or two
 * panes, a composer, and a panel comparing the hub's runs with the server's
 * open connections. Every pane is only a projection of the hub's runs.
 */

interface Session {
  id: string
  title: string
  runs: Array<{ runId: string; prompt: string }>
}

const params = new URLSearchParams(location.search)
const relay = createRunRelay({ name: params.get('relay') ?? 'run-relay-demo' })
const storageKey = `run-relay-demo:${params.get('relay') ?? ''}`
const sessions: Session[] = JSON.parse(localStorage.getItem(storageKey) ?? '[]')
let registry: RunSummary[] = []

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!
const save = () => localStorage.setItem(storageKey, JSON.stringify(sessions))

// ---- Panes -------------------------------------------------------------

class Pane {
  readonly element = document.createElement('section')
  sessionId: string | undefined
  #stops: Array<() => void> = []

  constructor() {
    this.element.className = 'pane'
    this.element.dataset.testid = 'pane'
    this.element.addEventListener('click', () => focus(this))
    this.show(undefined)
  }

  show(sessionId: string | undefined): void {
    this.#stops.forEach((stop) => stop())
    this.#stops = []
    this.sessionId = sessionId
    this.element.dataset.sessionId = sessionId ?? ''
    this.element.replaceChildren()
    const session = sessions.find((s) => s.id === sessionId)
    if (!session) {
      this.element.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'Pick a chat or press +' }))
      return
    }
    this.element.append(Object.assign(document.createElement('h3'), { textContent: session.title }))
    for (const run of session.runs) this.addRun(run.runId, run.prompt)
  }

  /** One user bubble and one assistant bubble per run, filled from the hub's log. */
  addRun(runId: string, prompt: string): void {
    this.element.append(bubble('user', prompt))
    const reply = bubble('assistant', '')
    this.element.append(reply)
    this.#stops.push(
      relay.subscribe({ runId }, {
        onEvents: (events) => {
          const stick = this.element.scrollTop + this.element.clientHeight >= this.element.scrollHeight - 20
          render(reply, events, this.sessionId)
          if (stick) this.element.scrollTop = this.element.scrollHeight
        },
        onStatus: (status, _runId, error) => {
          reply.dataset.status = status
          if (error) reply.append(Object.assign(document.createElement('div'), { className: 'error', textContent: `${error.code}: ${error.message}` }))
        },
      }),
    )
  }
}

function bubble(role: 'user' | 'assistant', text: string): HTMLElement {
  const element = Object.assign(document.createElement('div'), { className: 'message', textContent: text })
  Object.assign(element.dataset, { testid: 'message', role })
  return element
}

function render(reply: HTMLElement, events: RunEvent[], sessionId: string | undefined): void {
  for (const event of events) {
    const data = safeJson(event.data)
    if (event.type === 'token') reply.append(String(data?.text ?? ''))
    else if (event.type === 'tool') reply.append(Object.assign(document.createElement('span'), { className: 'tool', textContent: `🔧 ${data?.name}` }))
    else if (event.type === 'title') renameFromTitle(sessionId, data?.title)
  }
}

function safeJson(data: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(data)
  } catch {
    return undefined
  }
}

function renameFromTitle(sessionId: string | undefined, title: unknown): void {
  const session = sessions.find((s) => s.id === sessionId)
  if (session && typeof title === 'string' && session.title.startsWith('New chat')) {
    session.title = title
    save()
    renderSidebar()
  }
}

const panes: Pane[] = [new Pane()]
let focused = panes[0]!

function focus(pane: Pane): void {
  focused = pane
  for (const p of panes) p.element.classList.toggle('focused', p === pane && panes.length > 1)
  renderSidebar()
}

function layoutPanes(): void {
  $('#panes').replaceChildren(...panes.map((p) => p.element))
  focus(panes.includes(focused) ? focused : panes[0]!)
}

$<HTMLInputElement>('#split').addEventListener('change', (event) => {
  if ((event.target as HTMLInputElement).checked) panes.push(new Pane())
  else panes.splice(1).forEach((p) => p.show(undefined))
  layoutPanes()
})

// ---- Sidebar -------------------------------------------------------------

function runningSessions(): Set<string> {
  return new Set(registry.filter((run) => run.status !== 'ended' && run.status !== 'failed').map((run) => run.sessionId))
}

function renderSidebar(): void {
  const running = runningSessions()
  const unread = new Set(registry.filter((run) => run.finishedUnwatched).map((run) => run.sessionId))
  const parked = new Set(registry.filter((run) => run.status === 'parked').map((run) => run.sessionId))
  $('#sessions').replaceChildren(
    ...sessions.map((session) => {
      const item = Object.assign(document.createElement('li'), { textContent: session.title })
      Object.assign(item.dataset, {
        testid: 'session-item',
        sessionId: session.id,
        running: String(running.has(session.id)),
        parked: String(parked.has(session.id)),
        unread: String(unread.has(session.id)),
      })
      if (parked.has(session.id)) item.title = 'Running; its stream waits for a free connection (budget)'
      item.classList.toggle('shown', panes.some((p) => p.sessionId === session.id))
      item.addEventListener('click', () => {
        focused.show(session.id)
        renderSidebar()
      })
      return item
    }),
  )
}

$('#new-chat').addEventListener('click', () => {
  const session: Session = { id: crypto.randomUUID(), title: `New chat ${sessions.length + 1}`, runs: [] }
  sessions.unshift(session)
  save()
  focused.show(session.id)
  renderSidebar()
  $<HTMLInputElement>('#composer').focus()
})

// ---- Composer --------------------------------------------------------------

$('#composer-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const input = $<HTMLInputElement>('#composer')
  const prompt = input.value.trim()
  if (!prompt) return
  if (!focused.sessionId) $('#new-chat').click()
  const session = sessions.find((s) => s.id === focused.sessionId)!
  input.value = ''
  const tokens = Number(params.get('tokens') ?? 300)
  const rate = Number(params.get('rate') ?? 30)
  const response = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: session.id, message: prompt, tokens, rate }) })
  const body = (await response.json()) as { stream_id?: string; active_stream_id?: string; error?: string }
  // [protocol] 409: the session already runs; attach to that run instead of failing.
  const runId = body.stream_id ?? body.active_stream_id
  if (!runId) return alert(`Could not start: ${body.error ?? response.status}`)
  if (!session.runs.some((run) => run.runId === runId)) {
    session.runs.push({ runId, prompt })
    save()
  }
  await relay.open({ runId, sessionId: session.id, url: `/api/chat/stream?stream_id=${runId}`, preset: 'reference' })
  for (const pane of panes) if (pane.sessionId === session.id && response.ok) pane.addRun(runId, prompt)
})

// ---- Panel -------------------------------------------------------------------

relay.watchRuns((runs) => {
  registry = runs
  renderSidebar()
  $('#hub-runs tbody').replaceChildren(...runs.map((run) => row(run.runId, run.status, run.eventCount, run.subscriberCount)))
})

async function pollServer(): Promise<void> {
  const { streams } = (await (await fetch('/api/chat/stats')).json()) as { streams: Record<string, { open: number; opened: number }> }
  const known = new Set(registry.map((run) => run.runId))
  const shown = Object.entries(streams).filter(([id, s]) => s.open > 0 || known.has(id))
  $('#server-streams tbody').replaceChildren(...shown.map(([id, s]) => row(id, s.open, s.opened)))
}

function row(...cells: Array<string | number | RunStatus>): HTMLTableRowElement {
  const tr = document.createElement('tr')
  tr.append(...cells.map((cell) => Object.assign(document.createElement('td'), { textContent: String(cell), title: String(cell) })))
  return tr
}

setInterval(() => void pollServer().catch(() => {}), 1000)
layoutPanes()
