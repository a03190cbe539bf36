import * as Comlink from 'comlink'
import { afterEach, expect } from 'vitest'
import { commands } from 'vitest/browser'
import type { RunFaults, RunSettings } from '../dev-server/chat-server.ts'
import type { WireEvent } from '../dev-server/wire.ts'
import type { HubConnector } from '../src/connectors.ts'
import {
  createRunRelay, type RelayOptions, type ResyncReason, type RunError, type RunEvent, type RunHandlers,
  type RunRelay, type RunSpec, type RunStatus, type RunSummary,
} from '../src/index.ts'
import type { HubApi } from '../common/hub-wire.ts'

/**
 * The relays of a test file: call once at the top of the file; every relay it creates is
 * disposed after each test. `defaults` apply to every relay, a fresh worker name to each.
 */
export function useRelays(prefix: string, defaults: () => RelayOptions = () => ({})): (options?: RelayOptions | string) => RunRelay {
  const relays: RunRelay[] = []
  afterEach(() => {
    for (const relay of relays.splice(0)) relay.dispose()
  })
  return (options = {}) => {
    const given = typeof options === 'string' ? { name: options } : options
    const relay = createRunRelay({ name: uniqueName(prefix), ...defaults(), ...given })
    relays.push(relay)
    return relay
  }
}

/** Reaches an in-page hub over a real MessageChannel through Comlink, as a SharedWorker port would. */
export function messageChannelConnector(hub: { connect(): HubApi }): HubConnector {
  return () => {
    const { port1, port2 } = new MessageChannel()
    Comlink.expose(hub.connect(), port2)
    return { hub: Comlink.wrap<HubApi>(port1), close: () => port1.close() }
  }
}

/** Polls `check` until it returns a truthy value or throws no more; fails with the last reason after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = {}): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
      lastError = undefined
    } catch (error) {
      lastError = error
    }
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/**
 * Waits until `transcript()` holds as many entries as `expected` (or more, or `done()` says nothing
 * more will come), then asserts that it equals `expected`. An extra or doubled entry fails at once
 * with a diff, where a wait for `length === n` would time out; a missing one fails with a diff
 * after `timeoutMs`.
 */
export async function expectTranscript<T>(
  transcript: () => readonly T[],
  expected: readonly T[],
  { timeoutMs = 10_000, what = `${expected.length} entries`, done }: { timeoutMs?: number; what?: string; done?: () => boolean } = {},
): Promise<void> {
  const reached = await waitFor(() => transcript().length >= expected.length || done?.(), { timeoutMs, what }).then(() => true, () => false)
  expect(transcript(), reached ? what : `${what} (not reached in ${timeoutMs} ms)`).toEqual(expected)
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`
}

export interface StartedRun {
  streamId: string
  sessionId: string
  url: string
}

/** Starts a run on the dev chat server. */
export async function startRun(sessionId: string, message: string, settings: Partial<RunSettings> & { faults?: RunFaults } = {}): Promise<StartedRun> {
  const response = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: sessionId, message, ...settings }) })
  if (!response.ok) throw new Error(`start failed: ${response.status} ${await response.text()}`)
  const { stream_id: streamId } = (await response.json()) as { stream_id: string }
  return { streamId, sessionId, url: `/api/chat/stream?stream_id=${encodeURIComponent(streamId)}` }
}

/** The spec of a run started on the dev chat server, which speaks the reference protocol. */
export function specOf(run: StartedRun, extra: Partial<RunSpec> = {}): RunSpec {
  return { runId: run.streamId, sessionId: run.sessionId, url: run.url, preset: 'reference', ...extra }
}

/** What the test tab fixture rendered for one subscription (`tab.rendered(key)`). */
export interface Rendered {
  events: { type: string; data: string }[]
}

export interface ServerEvent {
  seq: number
  event: string
  data: string
}

/** What the server sent for a run: its journal, and what a full replay of it sends in the run's wire mode. */
export async function serverTranscript(streamId: string): Promise<{ finished: boolean; events: ServerEvent[]; wire: WireEvent[] }> {
  return (await fetch(`/api/chat/transcript?stream_id=${encodeURIComponent(streamId)}`)).json()
}

export interface ServerStreamStats {
  open: number
  opened: number
  /** The most stream responses of this run that were ever open at once. */
  maxOpen: number
  /** The longest time two of them were open at once, in ms. */
  overlapMs: number
  /** Probes of a failed EventSource for its hidden status; not counted in `opened`. */
  probes: number
  /** Stream requests destroyed unanswered by the `refuse` fault (a server-side outage). */
  refused: number
  cursors: string[]
  lastSeq: number
  finished: boolean
}

export async function serverStats(streamId: string): Promise<ServerStreamStats> {
  const { streams } = (await (await fetch(`/api/chat/stats?stream_id=${encodeURIComponent(streamId)}`)).json()) as { streams: Record<string, ServerStreamStats> }
  return streams[streamId]!
}

/** Waits for the run to finish on the server and returns its journal and its wire transcript. */
async function finishedRun(streamId: string, timeoutMs: number) {
  return waitFor(async () => {
    const t = await serverTranscript(streamId)
    return t.finished ? t : undefined
  }, { timeoutMs, what: `server run ${streamId} to finish` })
}

/** Waits for the run to finish on the server and returns what a full replay sends in its wire mode. */
export async function finishedWire(streamId: string, timeoutMs = 20_000): Promise<WireEvent[]> {
  return (await finishedRun(streamId, timeoutMs)).wire
}

/** The comparable form of wire events and received events: name, data and id. */
export function wireShape(events: ReadonlyArray<{ event?: string; type?: string; data: string; id?: string }>): string[] {
  return events.map((event) => `${event.type ?? event.event ?? 'message'} ${event.data}${event.id === undefined ? '' : ` #${event.id}`}`)
}

/** Waits for the run to finish on the server and returns its whole transcript. */
export async function finishedTranscript(streamId: string, timeoutMs = 20_000): Promise<ServerEvent[]> {
  return (await finishedRun(streamId, timeoutMs)).events
}

/** A subscriber that records what it saw, for comparison with the server's transcript. */
export function recorder() {
  const events: RunEvent[] = []
  const eventsByRun = new Map<string, RunEvent[]>()
  const statuses: RunStatus[] = []
  const runs: RunSummary[] = []
  const errors: RunError[] = []
  const resyncs: ResyncReason[] = []
  /** Events (by server id, else type and data) and resyncs, in the order they arrived. */
  const timeline: string[] = []
  let batches = 0
  const handlers: RunHandlers = {
    onEvents(batch, runId) {
      batches++
      events.push(...batch)
      for (const event of batch) timeline.push(event.id ?? `${event.type} ${event.data}`)
      eventsByRun.set(runId, [...(eventsByRun.get(runId) ?? []), ...batch])
    },
    onStatus(status, _runId, error) {
      statuses.push(status)
      if (error) errors.push(error)
    },
    onResync(_runId, reason) {
      resyncs.push(reason)
      timeline.push(`resync ${reason}`)
    },
    onRun(run) {
      runs.push(run)
    },
  }
  return {
    handlers,
    events,
    eventsByRun,
    statuses,
    runs,
    errors,
    resyncs,
    timeline,
    get batches() {
      return batches
    },
    get ended() {
      return statuses.at(-1) === 'ended'
    },
    get finished() {
      return statuses.at(-1) === 'ended' || statuses.at(-1) === 'failed'
    },
  }
}

/** The comparable form of events: name and data, in order. */
export function shape(events: ReadonlyArray<{ event?: string; type?: string; data: string }>): string[] {
  return events.map((event) => `${event.type ?? event.event} ${event.data}`)
}

/** Simulates a server restart for one run (see `Restart` in the dev chat server). */
export async function restartServer(streamId: string, how: { journal: 'keep' | 'trim' | 'lose'; worker: 'continue' | 'stop' }): Promise<void> {
  const response = await fetch(`/api/chat/restart?stream_id=${encodeURIComponent(streamId)}`, { method: 'POST', body: JSON.stringify(how) })
  if (!response.ok) throw new Error(`restart failed: ${response.status}`)
}

/** Cuts the network under a run: the dev server destroys every open response of it at once. */
export async function cutConnections(streamId: string): Promise<void> {
  const response = await fetch(`/api/chat/cut?stream_id=${encodeURIComponent(streamId)}`, { method: 'POST' })
  if (!response.ok) throw new Error(`cut failed: ${response.status}`)
}

/** Replaces the faults of a run on the dev chat server (say, to end an injected 401). */
export async function setFaults(streamId: string, faults: RunFaults): Promise<void> {
  const response = await fetch(`/api/chat/faults?stream_id=${encodeURIComponent(streamId)}`, { method: 'POST', body: JSON.stringify(faults) })
  if (!response.ok) throw new Error(`setting faults failed: ${response.status}`)
}

/** What a subscription of the test tab fixture (`tab.subscribe(key, ...)`) saw, once its run ended. */
export async function endedInTab(tab: string, key: string): Promise<{ events: RunEvent[]; statuses: string[] }> {
  let seen: { events: RunEvent[]; statuses: string[] } | undefined
  // 20 s: a loaded CI machine starting a new hub after a reload; on a timeout, what the tab and its hub
  // knew, to tell a run that never resumed from a wait that was too short.
  return waitFor(async () => {
    seen = await commands.evalInTab<{ events: RunEvent[]; statuses: string[] } | undefined>(tab, `tab.seen(${JSON.stringify(key)})`)
    return seen?.statuses.includes('ended') ? seen : undefined
  }, { what: `the run of subscription ${key} to end in ${tab}`, timeoutMs: 20_000 }).catch(async (error: Error) => {
    const hub = await commands.evalInTab<unknown>(tab, 'tab.diagnostics()').catch((failed: unknown) => `no diagnostics: ${String(failed)}`)
    throw new Error(`${error.message}; the subscription saw ${seen?.events.length ?? 'no'} events, statuses ${JSON.stringify(seen?.statuses)}; the hub: ${JSON.stringify(hub).slice(0, 2000)}`)
  })
}

/** The other loopback origin of the test server (localhost ↔ 127.0.0.1): a different origin, the same dev server. */
export function otherOrigin(): string {
  return location.origin.includes('localhost') ? location.origin.replace('localhost', '127.0.0.1') : location.origin.replace('127.0.0.1', 'localhost')
}

/** A URL of the dev server's hostile stream (`dev-server/hostile.ts`) with these query parameters. */
export function hostileUrl(params: Record<string, string | number | boolean>, origin = ''): string {
  return `${origin}/api/hostile/sse?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]))}`
}

export interface HostileRequest {
  at: number
  method: string
  url: string
  lastEventId: string | undefined
  probe: boolean
  cookie: boolean
}

/** The requests the hostile stream answered for `key`. */
export async function hostileLog(key: string): Promise<HostileRequest[]> {
  return ((await (await fetch(`/api/hostile/log?key=${encodeURIComponent(key)}`)).json()) as { requests: HostileRequest[] }).requests
}
