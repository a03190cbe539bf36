/**
 * `<run-relay-inspector>`: a framework-free panel that shows what the hub does. Load it lazily.
 *
 * @module run-relay/inspector
 */
import type { RunEvent } from '../common/model.ts'
import type { HubDiagnostics } from '../common/hub-wire.ts'
import type { RunRelay } from './relay-types.ts'

/** Events the tail shows. */
const TAIL_LENGTH = 50

/**
 * `<run-relay-inspector>`: a framework-free panel any app can drop in to see what its hub does:
 * runs with status and events per second, log sizes, subscribers per tab, connections against
 * the budget, parked runs, each run's last error, and a live tail of a chosen run.
 * Load it lazily from its own subpath, so apps pay for it only when it is shown:
 *
 * @example
 * const { defineInspector } = await import('run-relay/inspector')
 * defineInspector()
 * const inspector = document.createElement('run-relay-inspector')
 * inspector.relay = relay
 * panel.append(inspector)
 */
export class RunRelayInspector extends HTMLElement {
  /** The relay to inspect. The inspector starts polling once it has one and is in the document. */
  relay: RunRelay | undefined
  /** How often it asks the hub for diagnostics. */
  intervalMs = 500
  /** The last diagnostics shown (tests compare them with `relay.diagnostics()`). */
  shown: HubDiagnostics | undefined
  readonly #root = this.attachShadow({ mode: 'open' })
  readonly #rates = new Map<string, { count: number; at: number; perSecond: number }>()
  readonly #tailEvents: RunEvent[] = []
  #timer: ReturnType<typeof setTimeout> | undefined
  #tail: { runId: string; stop: () => void } | undefined

  /** Custom element callback: renders the panel and starts polling the hub. */
  connectedCallback(): void {
    this.#root.innerHTML = `<style>${STYLE}</style><div class="summary" part="summary"></div>
      <table part="runs"><thead><tr><th>run</th><th>status</th><th>events</th><th>ev/s</th><th>log</th><th>subs</th><th>error</th></tr></thead><tbody data-field="runs"></tbody></table>
      <h4>Subscribers per tab</h4><ul data-field="clients"></ul>
      <h4>Tail <span data-field="tail-run">(pick a run)</span></h4><ol data-field="tail"></ol>`
    void this.#poll()
  }

  /** Custom element callback: stops polling and the tail. */
  disconnectedCallback(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#tail?.stop()
    this.#tail = undefined
  }

  /** Follows `runId` in the tail (its last 50 events). */
  tailRun(runId: string): void {
    this.#tail?.stop()
    this.#tailEvents.length = 0
    const stop = this.relay?.subscribe({ runId }, {
      onEvents: (events) => {
        // Only the last TAIL_LENGTH matter; never spread a batch into arguments: a 250k-event
        // catch-up is one batch, past V8's argument limit (RangeError).
        const kept = events.slice(-TAIL_LENGTH)
        this.#tailEvents.splice(0, Math.max(0, this.#tailEvents.length + kept.length - TAIL_LENGTH))
        for (const event of kept) this.#tailEvents.push(event)
        this.#renderTail()
      },
    })
    this.#tail = stop ? { runId, stop } : undefined
    this.#renderTail()
  }

  async #poll(): Promise<void> {
    if (!this.isConnected) return
    try {
      if (this.relay) this.#render(await this.relay.diagnostics())
    } catch (error) {
      this.#field('summary').textContent = `The hub did not answer: ${(error as Error).message}`
    }
    if (this.isConnected) this.#timer = setTimeout(() => void this.#poll(), this.intervalMs)
  }

  #render(d: HubDiagnostics): void {
    this.shown = d
    const now = performance.now()
    const parked = d.runs.filter((run) => run.status === 'parked').length
    this.#field('summary').replaceChildren(
      cell('span', `${d.budget.open} / ${d.budget.limit}`, 'connections', `connections open / budget (${d.budget.protocol})`),
      ` connections (${d.budget.protocol}) · `,
      cell('span', String(parked), 'parked'),
      ' parked · ',
      cell('span', String(d.feeds.length), 'feeds'),
      ' feeds · ',
      cell('span', d.online ? 'online' : 'offline', 'online'),
    )
    this.#root.querySelector('[data-field=runs]')!.replaceChildren(...d.runs.map((run) => {
      const rate = this.#rateOf(run.runId, run.eventCount, now)
      const row = document.createElement('tr')
      row.dataset.runId = run.runId
      row.title = 'Show this run in the tail'
      row.addEventListener('click', () => this.tailRun(run.runId))
      row.append(
        cell('td', run.runId, 'run'),
        cell('td', run.status, 'status'),
        cell('td', String(run.eventCount), 'events'),
        cell('td', rate.toFixed(0), 'rate'),
        cell('td', `${((d.logBytes[run.runId] ?? 0) / 1024).toFixed(1)} KiB`, 'log'),
        cell('td', String(run.subscriberCount), 'subscribers'),
        cell('td', run.error ? `${run.error.code}: ${run.error.message}` : run.incomplete ? 'incomplete' : '', 'error'),
      )
      return row
    }))
    this.#root.querySelector('[data-field=clients]')!.replaceChildren(...Object.entries(d.subscriptionsByClient).map(([clientId, count]) => {
      const item = cell('li', `${clientId}: ${count}`, 'client')
      item.dataset.clientId = clientId
      item.dataset.count = String(count)
      return item
    }))
  }

  /** Events per second from the change in event count since the last poll, smoothed. */
  #rateOf(runId: string, count: number, at: number): number {
    const last = this.#rates.get(runId)
    const instant = last && at > last.at ? ((count - last.count) * 1000) / (at - last.at) : 0
    const perSecond = last ? last.perSecond * 0.5 + instant * 0.5 : 0
    this.#rates.set(runId, { count, at, perSecond })
    return perSecond
  }

  #renderTail(): void {
    this.#field('tail-run').textContent = this.#tail ? this.#tail.runId : '(pick a run)'
    this.#root.querySelector('[data-field=tail]')!.replaceChildren(...this.#tailEvents.map((event) => cell('li', `#${event.seq} ${event.type} ${event.data.slice(0, 80)}`, 'tail-event')))
  }

  #field(name: string): HTMLElement {
    return this.#root.querySelector<HTMLElement>(name === 'summary' ? '.summary' : `[data-field=${name}]`)!
  }
}

function cell<K extends keyof HTMLElementTagNameMap>(tag: K, text: string, field: string, title = text): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  element.textContent = text
  element.title = title
  element.dataset.field = field
  return element
}

/** Registers `<run-relay-inspector>` (once). */
export function defineInspector(tagName = 'run-relay-inspector'): void {
  if (!customElements.get(tagName)) customElements.define(tagName, class extends RunRelayInspector {})
}

declare global {
  interface HTMLElementTagNameMap {
    'run-relay-inspector': RunRelayInspector
  }
}

const STYLE = `
:host { display: block; font: 12px/1.4 system-ui, sans-serif; color: #1d2330; }
.summary { margin: 0 0 8px; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { text-align: left; padding: 3px 4px; border-bottom: 1px solid #eceef3; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { width: 24%; font-family: ui-monospace, monospace; }
th:nth-child(2) { width: 19%; } th:nth-child(3) { width: 12%; } th:nth-child(4) { width: 9%; } th:nth-child(5) { width: 14%; } th:nth-child(6) { width: 8%; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f1f3f9; }
h4 { margin: 10px 0 4px; font-size: 12px; }
ul, ol { margin: 0; padding-left: 18px; }
ol { font-family: ui-monospace, monospace; font-size: 11px; max-height: 180px; overflow: auto; overflow-wrap: anywhere; }
`
