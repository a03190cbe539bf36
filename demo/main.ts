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
Object.assign(globalThis, { demoRelay: relay }) // for the browser tests and for poking at it in devtools
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
  #header: HTMLElement | undefined

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
      this.element.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'Pick a chat, press +, or just type a message' }))
      return
    }
    this.#header = Object.assign(document.createElement('h3'), { textContent: session.title })
    this.element.append(this.#header)
    for (const run of session.runs) this.addRun(run.runId, run.prompt)
  }

  /** Titles stay in sync: the server names a chat with its `title` event. */
  refreshTitle(): void {
    const session = sessions.find((s) => s.id === this.sessionId)
    if (session && this.#header) this.#header.textContent = session.title
  }

  /** One user bubble and one assistant bubble per run, filled from the hub's log. */
  addRun(runId: string, prompt: string): void {
    this.element.append(bubble('user', prompt))
    const reply = bubble('assistant', '')
    this.element.append(reply)
    this.element.scrollTop = this.element.scrollHeight
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
    else if (event.type === 'tool') reply.append(Object.assign(document.createElement('span'), { className: 'tool', textContent: `tool: ${data?.name}` }))
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

// Split view only where two panes fit (the checkbox is hidden below 1000 px).
matchMedia('(max-width: 1000px)').addEventListener('change', (event) => {
  if (event.matches && panes.length > 1) $<HTMLInputElement>('#split').click()
})

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
      const item = document.createElement('li')
      item.append(Object.assign(document.createElement('span'), { className: 'title', textContent: session.title }))
      item.title = session.title
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
        setDrawer(false)
        renderSidebar()
      })
      return item
    }),
  )
  for (const pane of panes) pane.refreshTitle()
  renderComposer()
}

// ---- Drawer and header (phones) -------------------------------------------------

function setDrawer(open: boolean): void {
  document.body.classList.toggle('drawer-open', open)
  $('#menu').setAttribute('aria-expanded', String(open))
}
$('#menu').addEventListener('click', () => setDrawer(!document.body.classList.contains('drawer-open')))
$('#scrim').addEventListener('click', () => setDrawer(false))
$('#new-chat-top').addEventListener('click', () => $('#new-chat').click()) // on phones the sidebar's + is in the drawer

// ---- Composer state: never a silent drop -------------------------------------------

/** Runs this tab started that the registry does not list yet: live from the moment they are sent. */
const sending = new Map<string, string>() // sessionId -> runId ('' until the server answered)

/** The focused chat's run that is still live, if any. */
function liveRunOfFocused(): Pick<RunSummary, 'runId'> | undefined {
  const pending = focused.sessionId === undefined ? undefined : sending.get(focused.sessionId)
  if (pending !== undefined) return { runId: pending }
  return registry.find((run) => run.sessionId === focused.sessionId && run.status !== 'ended' && run.status !== 'failed')
}

function renderComposer(): void {
  const live = liveRunOfFocused()
  const input = $<HTMLInputElement>('#composer')
  input.disabled = live !== undefined
  input.placeholder = live ? 'The reply is still coming… press Stop to end it' : 'Message this chat…'
  $<HTMLButtonElement>('#send').disabled = live !== undefined
  $<HTMLButtonElement>('#stop').hidden = live === undefined
  const session = sessions.find((s) => s.id === focused.sessionId)
  $('#chat-title').textContent = session?.title ?? 'run-relay demo'
}

function note(text: string): void {
  $('#composer-note').textContent = text
}

$('#stop').addEventListener('click', async () => {
  const live = liveRunOfFocused()
  if (!live) return
  // [protocol] the reference server's cancel is a GET; the run then ends with a `cancel` event.
  const response = await fetch(`/api/chat/cancel?stream_id=${encodeURIComponent(live.runId)}`)
  note(response.ok ? 'Stopped.' : `Could not stop: ${response.status}`)
})

$('#new-chat').addEventListener('click', () => {
  const session: Session = { id: crypto.randomUUID(), title: `New chat ${sessions.length + 1}`, runs: [] }
  sessions.unshift(session)
  save()
  focused.show(session.id)
  setDrawer(false)
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
  note('')
  sending.set(session.id, '')
  renderComposer()
  try {
    await startTurn(session, prompt, input)
  } finally {
    // The registry lists the run by now (open() resolved) or the turn failed: it decides from here.
    sending.delete(session.id)
    renderComposer()
  }
})

async function startTurn(session: Session, prompt: string, input: HTMLInputElement): Promise<void> {
  const tokens = Number(params.get('tokens') ?? 0) // 0: the whole reply
  const rate = Number(params.get('rate') ?? 30)
  const response = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: session.id, message: prompt, tokens, rate }) })
  const body = (await response.json()) as { stream_id?: string; active_stream_id?: string; error?: string }
  if (response.status === 409) {
    // [protocol] 409: the chat already runs (another tab, say). Follow that run; keep the message.
    input.value = prompt
    note('This chat is still answering in another tab; your message is kept. Send it when the reply ends.')
  }
  const runId = body.stream_id ?? body.active_stream_id
  if (!runId) {
    input.value = prompt
    return note(`Could not send: ${body.error ?? response.status}. Your message is kept.`)
  }
  sending.set(session.id, runId)
  const known = session.runs.some((run) => run.runId === runId)
  if (!known) {
    session.runs.push({ runId, prompt: response.ok ? prompt : '(started elsewhere)' })
    save()
  }
  await relay.open({ runId, sessionId: session.id, url: `/api/chat/stream?stream_id=${encodeURIComponent(runId)}`, preset: 'reference' })
  await waitForRegistry(runId)
  if (!known) for (const pane of panes) if (pane.sessionId === session.id) pane.addRun(runId, response.ok ? prompt : '(started elsewhere)')
}

/** Resolves once the registry lists the run (watchRuns is throttled), or after 2 s. */
function waitForRegistry(runId: string): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now()
    const check = () => (registry.some((run) => run.runId === runId) || performance.now() - started > 2000 ? resolve() : setTimeout(check, 20))
    check()
  })
}

// ---- Panel -------------------------------------------------------------------

relay.watchRuns((runs) => {
  registry = runs
  renderSidebar()
})

/** The inspector is its own module, loaded the first time the panel opens. */
async function setInspector(open: boolean): Promise<void> {
  const panel = $('#inspector-panel')
  panel.hidden = !open
  $('#toggle-inspector').setAttribute('aria-expanded', String(open))
  if (!open || $('#inspector-slot').childElementCount > 0) return
  const { defineInspector } = await import('../src/inspector.ts')
  defineInspector()
  const inspector = document.createElement('run-relay-inspector')
  inspector.dataset.testid = 'inspector'
  inspector.relay = relay
  $('#inspector-slot').append(inspector)
}
$('#toggle-inspector').addEventListener('click', () => void setInspector($('#inspector-panel').hidden))
$('#close-inspector').addEventListener('click', () => void setInspector(false))
if (params.get('inspector') === '1') void setInspector(true)

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

setInterval(() => void ($('#inspector-panel').hidden || pollServer().catch(() => {})), 1000)
layoutPanes()
